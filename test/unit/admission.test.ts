import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { bandFor } from '../../src/admission/bands.js'
import { freeSlots } from '../../src/admission/capacity.js'
import { AdmissionQueue, type AdmissionClock, type Grant } from '../../src/admission/queue.js'
import { AbortFlag } from '../../src/pipeline/abort-flag.js'
import { GatewayError } from '../../src/errors/catalogue.js'
import { input, pod } from '../helpers/routing.js'

const config = (admission: Record<string, unknown> = {}) =>
  parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } }, admission: { enabled: true, ...admission } }, 'test').admission

/** A clock the test moves by hand. */
function manualClock() {
  let time = 0
  const timers = new Set<{ at: number; fn: () => void }>()
  const clock: AdmissionClock = {
    now: () => time,
    after(ms, fn) {
      const timer = { at: time + ms, fn }
      timers.add(timer)
      return () => timers.delete(timer)
    }
  }
  const advance = async (ms: number) => {
    time += ms
    for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
      if (timer.at > time) continue
      timers.delete(timer)
      timer.fn()
    }
    await new Promise((r) => setImmediate(r))
  }
  return { clock, advance }
}

/** A queue over one model with `slots` free slots that the test sets; grants record the order they came in. */
function setup(admission: Record<string, unknown> = {}) {
  const cfg = config(admission)
  const state = { slots: 0 }
  const events: string[] = []
  const { clock, advance } = manualClock()
  const q = new AdmissionQueue(cfg, () => state.slots, { admitted: (b, w, queued) => events.push(`admitted ${b}${queued ? ` after ${w}` : ''}`), rejected: (b, r) => events.push(`rejected ${b} ${r}`) }, clock)
  const order: string[] = []
  const band = (name: string) => cfg.bands.find((b) => b.name === name)!
  const send = (label: string, opts: { user?: string; band?: string; tokens?: number; abort?: AbortFlag } = {}) => {
    const g = q.admit({ model: 'm', user: opts.user, band: band(opts.band ?? 'standard'), tokens: opts.tokens ?? 100, abort: opts.abort ?? new AbortFlag() })
    const p = Promise.resolve(g).then((grant) => {
      order.push(label)
      return grant
    })
    p.catch(() => {})
    return p
  }
  /** The granted request took a pod slot (its ticket). */
  const occupy = (g: Grant) => {
    g.routed()
    state.slots--
  }
  /** It ended: the slot is free again and goes to the next waiter, if any. */
  const release = async (g: Grant, used?: number) => {
    state.slots++
    g.finished(used)
    await new Promise((r) => setImmediate(r))
  }
  /** Serves the waiting requests one slot at a time, each to its end; resolves the labels in the order they went. */
  const drain = async (first: Grant, waiting: Map<string, Promise<Grant>>, used?: (label: string) => number) => {
    order.length = 0
    let current = first
    let label = ''
    for (let i = 0; i < waiting.size; i++) {
      await release(current, label && used ? used(label) : undefined)
      label = order[i]
      current = await waiting.get(label)!
      occupy(current)
    }
    return [...order]
  }
  return { q, state, events, order, send, occupy, release, drain, advance, cfg }
}

t.test('fast path: with free slots and nobody waiting a grant comes at once, not as a promise', async (t) => {
  const { q, state, cfg } = setup()
  state.slots = 2
  const g = q.admit({ model: 'm', user: 'a', band: cfg.bands[1], tokens: 10, abort: new AbortFlag() })
  t.notOk(g instanceof Promise)
  t.equal((g as Grant).waitedMs, 0)
  // the grant holds a slot until it routes: with 2 free, one more goes at once and the third waits
  t.notOk(q.admit({ model: 'm', user: 'a', band: cfg.bands[1], tokens: 10, abort: new AbortFlag() }) instanceof Promise)
  const third = q.admit({ model: 'm', user: 'a', band: cfg.bands[1], tokens: 10, abort: new AbortFlag() })
  t.ok(third instanceof Promise, 'slots handed out but not yet routed still count')
  ;(third as Promise<Grant>).catch(() => {})
})

t.test('higher bands go first; FIFO inside a band for one user', async (t) => {
  const { send, occupy, drain, state } = setup()
  state.slots = 1
  const first = await send('first')
  occupy(first)
  const waiting = new Map(
    [['std-1', 'standard'], ['shed-1', 'sheddable'], ['crit-1', 'critical'], ['std-2', 'standard'], ['crit-2', 'critical']].map(([label, band]) => [label, send(label, { band, user: 'u' })])
  )
  t.same(await drain(first, waiting), ['crit-1', 'crit-2', 'std-1', 'std-2', 'shed-1'])
})

t.test('fair share inside a band: the user served the fewest tokens goes next (VTC), so a flooder cannot starve others', async (t) => {
  const { send, occupy, drain, state } = setup()
  state.slots = 1
  const first = await send('first', { user: 'flood' })
  occupy(first)
  // the flooder queued 6 requests before the others queued 2 each
  const waiting = new Map<string, Promise<Grant>>()
  for (let i = 1; i <= 6; i++) waiting.set(`flood-${i}`, send(`flood-${i}`, { user: 'flood' }))
  for (const u of ['a', 'b']) for (let i = 1; i <= 2; i++) waiting.set(`${u}-${i}`, send(`${u}-${i}`, { user: u }))
  const order = await drain(first, waiting)
  // each of a and b is served before the flooder's second queued request
  t.ok(order.indexOf('a-2') < order.indexOf('flood-3') && order.indexOf('b-2') < order.indexOf('flood-3'), order.join(' '))
  t.same(order.slice(-4), ['flood-3', 'flood-4', 'flood-5', 'flood-6'], 'the flooder\'s surplus goes last')
})

t.test('fair share counts tokens, not requests: a user with big requests goes less often', async (t) => {
  const { send, occupy, drain, state } = setup()
  state.slots = 1
  const first = await send('first', { user: 'x' })
  occupy(first)
  const waiting = new Map<string, Promise<Grant>>()
  for (let i = 1; i <= 3; i++) waiting.set(`big-${i}`, send(`big-${i}`, { user: 'big', tokens: 1000 }))
  for (let i = 1; i <= 6; i++) waiting.set(`small-${i}`, send(`small-${i}`, { user: 'small', tokens: 100 }))
  const order = await drain(first, waiting, (label) => (label.startsWith('big') ? 1000 : 100))
  t.ok(order.indexOf('small-6') < order.indexOf('big-2'), `six small requests cost less than one more big one: ${order.join(' ')}`)
})

t.test('a user who starts waiting is lifted to the lowest counter: idle time earns no credit', async (t) => {
  const { send, occupy, release, order, state } = setup()
  state.slots = 1
  let current = await send('first', { user: 'a' })
  occupy(current)
  const waiting = new Map<string, Promise<Grant>>()
  for (let i = 1; i <= 5; i++) waiting.set(`a-${i}`, send(`a-${i}`, { user: 'a' }))
  order.length = 0
  const serveOne = async () => {
    await release(current)
    current = await waiting.get(order.at(-1)!)!
    occupy(current)
  }
  // a is served three times alone (its counter grows), then b starts waiting
  for (let i = 0; i < 3; i++) await serveOne()
  for (let i = 1; i <= 3; i++) waiting.set(`b-${i}`, send(`b-${i}`, { user: 'b' }))
  for (let i = 0; i < 5; i++) await serveOne()
  // b starts just below a's counter and the two alternate; without the lift b, at 0, would take all three turns first
  t.same(order, ['a-1', 'a-2', 'a-3', 'b-1', 'a-4', 'b-2', 'a-5', 'b-3'])
})

t.test('queue timeout: 503 queue_timeout with Retry-After, and the request is gone from the queue', async (t) => {
  const { send, advance, q, events } = setup({ bands: [{ name: 'standard', priority: 0, queueTimeoutMs: 500 }] })
  const waiting = send('late')
  await advance(499)
  t.equal(q.depth()[0].waiting, 1)
  await advance(1)
  const err = (await waiting.catch((e: unknown) => e)) as GatewayError
  t.type(err, GatewayError)
  t.equal(err.kind, 'queue_timeout')
  t.equal(err.status, 503)
  t.equal(err.headers['retry-after'], '1')
  t.equal(err.headers['x-error-unavailable-reason'], 'queue-timeout')
  t.equal(q.depth()[0].waiting, 0)
  t.same(events, ['rejected standard timeout'])
})

t.test('a full band refuses at once: 503 queue_full', async (t) => {
  const { send, q } = setup({ bands: [{ name: 'standard', priority: 0, maxQueue: 2 }] })
  void send('1')
  void send('2')
  const err = (await send('3').catch((e: unknown) => e)) as GatewayError
  t.equal(err.kind, 'queue_full')
  t.equal(err.headers['x-error-unavailable-reason'], 'queue-full')
  t.equal(q.depth()[0].waiting, 2)
})

t.test('when all bands together are full, the newest sheddable request of the user with the most waiting makes room for a higher band', async (t) => {
  const { send, q } = setup({ maxQueue: 3 })
  const shedA = send('shed-a', { band: 'sheddable', user: 'a' })
  const shedB1 = send('shed-b1', { band: 'sheddable', user: 'b', tokens: 500 })
  const shedB2 = send('shed-b2', { band: 'sheddable', user: 'b', tokens: 500 })
  const std = send('std', { user: 'c' })
  const err = (await shedB2.catch((e: unknown) => e)) as GatewayError
  t.equal(err.kind, 'queue_shed')
  t.equal(err.headers['x-error-unavailable-reason'], 'queue-shed')
  t.same(q.depth().map((d) => d.waiting), [0, 1, 2], 'critical 0, standard 1, sheddable 2')
  // a sheddable newcomer cannot shed its own band
  t.equal(((await send('shed-c', { band: 'sheddable', user: 'c' }).catch((e: unknown) => e)) as GatewayError).kind, 'queue_full')
  void [shedA, shedB1, std]
})

t.test('a client that leaves while queued is taken out of the queue', async (t) => {
  const { send, q } = setup()
  const abort = new AbortFlag()
  const waiting = send('gone', { abort })
  t.equal(q.depth()[1].waiting, 1)
  abort.abort()
  await t.rejects(waiting)
  t.equal(q.depth()[1].waiting, 0)
  t.equal(abort.listenerCount('abort'), 0, 'no listener left behind')
})

t.test('waiters are re-checked on a timer: capacity freed elsewhere (another replica) reaches them', async (t) => {
  const { send, advance, state, cfg } = setup()
  let granted = false
  void send('w').then(() => (granted = true))
  state.slots = 1
  await advance(cfg.recheckMs)
  t.ok(granted)
})

t.test('bandFor: the user\'s band is the ceiling; the header may only lower it', async (t) => {
  const cfg = config({ users: { vip: 'critical', batch: 'sheddable' } })
  t.equal(bandFor(cfg, undefined, undefined).name, 'standard')
  t.equal(bandFor(cfg, 'vip', undefined).name, 'critical')
  t.equal(bandFor(cfg, 'vip', 'sheddable').name, 'sheddable')
  t.equal(bandFor(cfg, 'anyone', 'critical').name, 'standard', 'no jumping the queue by header')
  t.equal(bandFor(cfg, 'batch', 'standard').name, 'sheddable')
  t.equal(bandFor(cfg, 'anyone', ' Sheddable ').name, 'sheddable')
  t.equal(bandFor(cfg, 'anyone', 'no-such-band').name, 'standard')
})

t.test('config: bands named by defaultBand and users must exist', async (t) => {
  t.throws(() => config({ defaultBand: 'gold' }), /defaultBand.*"gold" is not one of the bands/)
  t.throws(() => config({ users: { alice: 'gold' } }), /users\.alice/)
  t.throws(() => config({ bands: [{ name: 'a', priority: 1 }, { name: 'a', priority: 2 }], defaultBand: 'a' }), /unique/)
})

t.test('freeSlots: per-pod cap (configured, else batch cap) minus in-flight; a pod with no known cap is open unless its queue is not empty', async (t) => {
  const pods = [pod('a'), pod('b')]
  const stats = (s: Parameters<typeof input>[1]) => input(pods, s).stats
  t.equal(freeSlots(pods, stats({ inflight: { a: 3, b: 1 } }), 4), 1 + 3)
  t.equal(freeSlots(pods, stats({ inflight: { a: 5, b: 4 } }), 4), 0)
  t.equal(freeSlots(pods, stats({ inflight: { a: 1 } }), 0), Infinity, 'no cap known: open')
  t.equal(freeSlots(pods, stats({ inflight: { a: 1 }, batchCaps: { a: 2, b: 2 } }), 0), 1 + 2)
  t.equal(freeSlots(pods, stats({ metrics: { a: { waiting: 2 }, b: { waiting: 1 } } }), 0), 0, 'every pod has a queue: full')
})

t.test('podShare: a band that may fill only part of each pod waits while a higher band still goes', async (t) => {
  const cfg = config({ maxInflightPerPod: 4, bands: [{ name: 'high', priority: 1 }, { name: 'low', priority: 0, podShare: 0.5 }], defaultBand: 'low' })
  // one pod with a cap of 4: capacity for a share is floor(4 × share) minus what is open
  let open = 0
  const q = new AdmissionQueue(cfg, (_m, share) => Math.max(0, Math.floor(4 * share) - open), { admitted: () => {}, rejected: () => {} }, manualClock().clock)
  /** Whether a request of `band` is let through now (at once or after the queue looked again). */
  const take = async (band: string) => {
    const g = q.admit({ model: 'm', user: 'u', band: cfg.bands.find((b) => b.name === band)!, tokens: 1, abort: new AbortFlag() })
    const granted = await Promise.race([Promise.resolve(g), new Promise<undefined>((r) => setImmediate(() => r(undefined)))])
    if (!granted) return false
    granted.routed()
    open++
    return true
  }
  t.ok(await take('low'))
  t.ok(await take('low'))
  t.notOk(await take('low'), 'the low band stops at half the pod')
  t.ok(await take('high'), 'the high band still finds a slot, past the waiting low request')
  t.ok(await take('high'))
  t.notOk(await take('high'), 'the pod is full')
})

import t, { type Test } from 'tap'
import { spawnCli, startGateway, type CliProcess } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'

// Real simulator processes behind an in-process gateway: a pod killed or stopped under load.

async function threePods(t: Test): Promise<CliProcess[]> {
  const pods = await Promise.all([0, 1, 2].map(() => spawnCli(['sim', '--host', '127.0.0.1', '--port', '0', '--model', 'm', '--time-scale', '0.05', '--log-level', 'error'])))
  t.teardown(async () => {
    for (const p of pods) {
      p.child.kill('SIGCONT')
      await p.stop('SIGKILL')
    }
  })
  return pods
}

const addressOf = (p: CliProcess) => new URL(p.url).host

interface Result {
  status: number
  pod: string | null
  at: number
  text: string
}

/** Closed-loop load: `concurrency` clients send requests back to back until `ms` ran out. */
async function load(url: string, ms: number, concurrency: number, body: (i: number) => object): Promise<Result[]> {
  const out: Result[] = []
  const until = Date.now() + ms
  let i = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const n = i++
        try {
          const res = await post(`${url}/v1/chat/completions`, body(n))
          out.push({ status: res.status, pod: res.headers.get('target-pod'), at: Date.now(), text: await res.text() })
        } catch (err) {
          out.push({ status: 0, pod: null, at: Date.now(), text: String(err) })
        }
      }
    })
  )
  return out
}

t.test('kill one of 3 pods under load: no non-streamed request fails; streams fail over or end with one error event; the pod leaves rotation within 1 s', async (t) => {
  const pods = await threePods(t)
  const gw = await startGateway({
    discovery: { static: { models: [{ name: 'm', endpoints: pods.map((p, i) => ({ address: addressOf(p), name: `pod-${i}` })) }] } },
    routing: { defaultStrategy: 'least-request' }
  })
  t.teardown(() => gw.close())
  let killedAt = 0
  setTimeout(() => {
    killedAt = Date.now()
    pods[0].child.kill('SIGKILL')
  }, 500)
  const results = await load(gw.url, 2000, 12, (i) => chat('m', { max_tokens: 24, stream: i % 3 === 0 }))
  const plain = results.filter((r) => !r.text.startsWith('data:'))
  t.ok(results.length > 100, `${results.length} requests`)
  t.same(plain.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text.slice(0, 80)}`), [], 'no non-streamed failure')
  for (const r of results.filter((x) => x.text.startsWith('data:'))) {
    const errors = r.text.match(/"error"/g)?.length ?? 0
    if (!(r.text.includes('data: [DONE]') ? errors === 0 : errors === 1)) t.fail(`a stream ended badly: ${r.text.slice(-200)}`)
  }
  const late = results.filter((r) => r.at > killedAt + 1000 && r.pod === 'pod-0')
  t.equal(late.length, 0, 'no answer from the dead pod after 1 s')
})

t.test('SIGSTOP one pod under load: its requests fail over after the first-byte deadline, it is ejected, and it returns after SIGCONT', async (t) => {
  const pods = await threePods(t)
  const gw = await startGateway({
    discovery: { static: { models: [{ name: 'm', endpoints: pods.map((p, i) => ({ address: addressOf(p), name: `pod-${i}` })) }] } },
    // random, not least-request: least-request rightly keeps away from a pod whose streams stalled
    // open on it, so whether any request met the stopped pod's first-byte deadline depended on
    // when the stop fell (CI once saw none: 254 answers from pod-0, all before the stop). With a
    // third of the requests sent to the stopped pod, the retry budget (20 % of the last 10 s, and
    // the stop comes 0.3 s in) is lifted: this test is about failing over, not about the budget
    routing: { defaultStrategy: 'random' },
    upstream: { firstByteTimeoutMs: 300, retry: { budgetPercent: 100 }, outlier: { baseEjectionMs: 500, hangSeconds: 1 } }
  })
  t.teardown(() => gw.close())
  setTimeout(() => pods[0].child.kill('SIGSTOP'), 300)
  setTimeout(() => pods[0].child.kill('SIGCONT'), 2300)
  const results = await load(gw.url, 4500, 8, (i) => chat('m', { max_tokens: 16, stream: i % 2 === 0 }))
  t.same(results.filter((r) => r.status !== 200).map((r) => r.status), [], 'every request answered 200')
  const slow = results.filter((r) => r.text.includes('"error"'))
  t.equal(slow.length, 0, 'no stream cut: none had started on the stopped pod')
  const metrics = await (await fetch(`${gw.url}/metrics`)).text()
  t.match(metrics, /brixgate_outlier_ejections_total\{reason="(failures|hung)"\} [1-9]/, 'the stopped pod was ejected')
  t.match(metrics, /brixgate_upstream_retries_total\{cause="first_byte_timeout"\} [1-9]/)
  const back = results.filter((r) => r.pod === 'pod-0' && r.at > Date.now() - 1200)
  t.ok(back.length > 0, 'pod-0 serves again after SIGCONT and a healthy probe')
})

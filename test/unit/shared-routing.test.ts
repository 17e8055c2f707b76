import t from 'tap'
import { configSchema } from '../../src/config/schema.js'
import { PrefixIndex } from '../../src/routing/prefix/prefix-index.js'
import { blockHashes } from '../../src/routing/prefix/block-hash.js'
import { ResponsePins } from '../../src/routing/response-pins.js'
import { SharedRoutingState } from '../../src/sharing/shared-routing.js'
import { MemoryRoutingHub, type RoutingTransport } from '../../src/sharing/transport.js'

const shareConfig = (over: Record<string, unknown> = {}) => configSchema.shape.routing.parse({ share: over }).share

/** Timers the test runs by hand: `flush()` runs everything scheduled so far, in order. */
function manualTimers() {
  let due: (() => void)[] = []
  return {
    schedule: (_ms: number, fn: () => void) => void due.push(fn),
    flush() {
      while (due.length > 0) {
        const now = due
        due = []
        for (const fn of now) fn()
      }
    }
  }
}

function replicas(n: number, over: Record<string, unknown> = {}) {
  const timers = manualTimers()
  const hub = new MemoryRoutingHub((ms, fn) => timers.schedule(ms, fn), 0)
  const nodes = Array.from({ length: n }, () => {
    const index = new PrefixIndex({ maxBlocks: 10_000, ttlMs: 60_000 })
    const pins = new ResponsePins()
    const state = new SharedRoutingState(shareConfig(over), hub.transport(), timers.schedule, pins)
    state.register('cache-aware', index)
    return { index, pins, state }
  })
  return { nodes, timers }
}

const text = 'the tenant system prompt '.repeat(40)
const hashes = blockHashes(text, 128, 7)
const pods = new Set(['pod-a', 'pod-b'])

t.test('a prefix one replica records reaches the other replicas\' index after the flush, not before', async (t) => {
  const { nodes, timers } = replicas(3)
  nodes[0].index.insert(hashes, 'pod-a')
  nodes[0].state.recorded('cache-aware', 'insert', 'pod-a', hashes, 0)
  t.same([...nodes[1].index.match(hashes, pods)], [], 'nothing before the batch goes out')
  timers.flush()
  for (const n of nodes.slice(1)) t.same([...n.index.match(hashes, pods)], [['pod-a', hashes.keys.length]])
  t.equal(nodes[0].state.counts.sent, 1)
  t.equal(nodes[1].state.counts.received, 1)
  t.equal(nodes[0].state.counts.received, 0, 'a replica ignores its own batches')
})

t.test('deltas: a record from block `from` on extends what the others hold; removals take it back', async (t) => {
  const { nodes, timers } = replicas(2)
  const head = { keys: hashes.keys.subarray(0, 4), checks: hashes.checks.subarray(0, 4) }
  nodes[0].state.recorded('cache-aware', 'insert', 'pod-b', head, 0)
  timers.flush()
  t.same([...nodes[1].index.match(hashes, pods)], [['pod-b', 4]])
  nodes[0].state.recorded('cache-aware', 'insert', 'pod-b', hashes, 4)
  timers.flush()
  t.same([...nodes[1].index.match(hashes, pods)], [['pod-b', hashes.keys.length]], 'only the new blocks were sent, and they chain on')
  nodes[0].state.recorded('cache-aware', 'remove', 'pod-b', hashes, 2)
  timers.flush()
  t.same([...nodes[1].index.match(hashes, pods)], [['pod-b', 2]])
})

t.test('Responses pins travel too', async (t) => {
  const { nodes, timers } = replicas(2)
  nodes[0].pins.pin('resp_1', 'pod-a')
  timers.flush()
  t.equal(nodes[1].pins.podFor('resp_1'), 'pod-a')
})

t.test('bounded: a record carries at most maxBlocksPerRecord blocks, a batch at most maxPendingBlocks; the rest is dropped and counted', async (t) => {
  const { nodes, timers } = replicas(2, { maxBlocksPerRecord: 3, maxPendingBlocks: 5 })
  nodes[0].state.recorded('cache-aware', 'insert', 'pod-a', hashes, 0)
  nodes[0].state.recorded('cache-aware', 'insert', 'pod-b', hashes, 0)
  timers.flush()
  t.same([...nodes[1].index.match(hashes, pods)], [['pod-a', 3]], 'the first record, cut at 3 blocks; the second did not fit the batch')
  t.equal(nodes[0].state.counts.dropped, 1)
})

t.test('malformed batches, unknown strategies and a dead transport change nothing and throw nothing', async (t) => {
  const timers = manualTimers()
  let deliver: (payload: string) => void = () => {}
  const published: string[] = []
  const transport: RoutingTransport = { publish: (p) => void published.push(p), onMessage: (fn) => (deliver = fn), close: async () => {} }
  const index = new PrefixIndex({ maxBlocks: 1000, ttlMs: 60_000 })
  const pins = new ResponsePins()
  const state = new SharedRoutingState(shareConfig(), transport, timers.schedule, pins)
  state.register('cache-aware', index)
  for (const bad of ['not json', '{}', '{"v":2}', '{"v":1,"r":"x","p":"no","s":[]}', '{"v":1,"r":"x","p":[[1,2,3]],"s":[[1]]}', JSON.stringify({ v: 1, r: 'x', p: [['other-strategy', 0, 'pod-a', 'AAAA', 'AAAA']], s: [] })]) deliver(bad)
  t.equal(index.size, 0)
  t.equal(pins.size, 0)
  t.equal(state.counts.received, 0)
  // publishing into a transport that drops everything: routing state stays local, nothing queues
  state.recorded('cache-aware', 'insert', 'pod-a', hashes, 0)
  timers.flush()
  t.equal(published.length, 1, 'one message per flush')
})

import { Writable } from 'node:stream'
import t from 'tap'
import { BatchedStdout } from '../../src/observability/batched-stdout.js'

/** A stdout stand-in that records each write it gets. */
function sink() {
  const writes: string[] = []
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString('utf8'))
      cb()
    }
  })
  return { out, writes }
}

t.test('lines go out as one write per batch, flushMs after the first, in order and whole (UTF-8)', async (t) => {
  const { out, writes } = sink()
  const log = new BatchedStdout(30, out)
  log.write('{"a":1}\n')
  log.write('{"b":"größe ✓"}\n')
  t.same(writes, [], 'held for the batch')
  await new Promise((r) => setTimeout(r, 80))
  t.same(writes, ['{"a":1}\n{"b":"größe ✓"}\n'], 'one write with both lines')
  log.write('{"c":3}\n')
  log.flush()
  t.same(writes.at(-1), '{"c":3}\n', 'flush() writes at once')
  let called = false
  log.flush(() => (called = true))
  t.equal(writes.length, 2, 'an empty batch writes nothing')
  t.ok(called, "flush's callback is called (pino's logger.flush(cb))")
})

t.test('a full batch is written before the line that does not fit; a line larger than a batch goes alone', async (t) => {
  const { out, writes } = sink()
  const log = new BatchedStdout(10_000, out, 70)
  const line = `${'x'.repeat(19)}\n` // 20 chars, counted as up to 60 bytes: a second one does not fit in 70
  log.write(line)
  t.same(writes, [])
  log.write(line)
  t.same(writes, [line], 'the first batch went out to make room')
  const big = `${'y'.repeat(200)}\n`
  log.write(big)
  t.same(writes, [line, line, big], 'the pending line, then the large one by itself')
  log.flush()
  t.equal(writes.length, 3)
})

t.test('after a write error (the reader went away) lines are dropped, not thrown', async (t) => {
  let writes = 0
  const out = new Writable({
    write: (_c, _e, cb) => {
      writes++
      cb(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }))
    }
  })
  const log = new BatchedStdout(10_000, out)
  log.write('one\n')
  log.flush()
  await new Promise((r) => setImmediate(r))
  t.doesNotThrow(() => {
    log.write('two\n')
    log.flush()
  })
  t.equal(writes, 1, 'nothing more is written to a broken stdout')
})

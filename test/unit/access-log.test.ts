import t from 'tap'
import fc from 'fast-check'
import { pino } from 'pino'
import { accessLogWriter, type AccessRecord } from '../../src/observability/access-log.js'

// The access line is written by hand for speed; it must be the very bytes pino writes for the same
// record (any well-formed strings; a lone surrogate is escaped, see the last test).

function capture(level = 'info', base: Record<string, unknown> | null = { name: 'brixgate' }) {
  const lines: string[] = []
  const logger = pino({ level, base }, { write: (line: string) => void lines.push(line) })
  return { logger, lines }
}

const sameTime = (line: string) => line.replace(/"time":\d+/, '"time":0')

const record = fc.record(
  {
    requestId: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
    model: fc.string({ unit: 'binary' }),
    user: fc.string({ unit: 'binary' }),
    strategy: fc.string(),
    pod: fc.string({ unit: 'binary' }),
    status: fc.integer({ min: 100, max: 599 }),
    stream: fc.boolean(),
    retries: fc.integer({ min: 1, max: 5 }),
    tokens: fc.nat(),
    ms: fc.nat(),
    upstreamMs: fc.nat()
  },
  { requiredKeys: ['requestId', 'status', 'stream', 'ms'] }
)

t.test('the line is byte for byte what logger.info(record, "request") writes, for any record', async (t) => {
  const viaPino = capture()
  const byHand = capture()
  const write = accessLogWriter(byHand.logger)
  fc.assert(
    fc.property(record, (r: AccessRecord) => {
      viaPino.logger.info(r, 'request')
      write(r)
      return sameTime(byHand.lines.at(-1)!) === sameTime(viaPino.lines.at(-1)!)
    }),
    { numRuns: 2000 }
  )
  t.equal(byHand.lines.length, viaPino.lines.length)
})

t.test('a record with every field, and one with undefined fields (left out, as pino leaves them)', async (t) => {
  for (const r of [
    { requestId: 'id-1', model: 'llama "3"\n', user: 'alice', strategy: 'cache-aware', pod: 'pod-a', status: 200, stream: true, retries: 1, tokens: 42, ms: 7, upstreamMs: 5 },
    { requestId: 'id-2', model: undefined, user: undefined, strategy: undefined, pod: undefined, status: 404, stream: false, retries: undefined, tokens: undefined, ms: 0, upstreamMs: undefined }
  ]) {
    const viaPino = capture()
    const byHand = capture()
    viaPino.logger.info(r, 'request')
    accessLogWriter(byHand.logger)(r)
    t.equal(sameTime(byHand.lines[0]), sameTime(viaPino.lines[0]))
    t.same(JSON.parse(byHand.lines[0]).msg, 'request')
  }
})

t.test('bindings of the logger come first, as pino writes them; none at all works too', async (t) => {
  for (const base of [{ name: 'brixgate', pid: 12, hostname: 'h' }, null]) {
    const viaPino = capture('info', base)
    const byHand = capture('info', base)
    const r = { requestId: 'x', status: 200, stream: false, ms: 1 }
    viaPino.logger.info(r, 'request')
    accessLogWriter(byHand.logger)(r)
    t.equal(sameTime(byHand.lines[0]), sameTime(viaPino.lines[0]), JSON.stringify(base))
  }
})

t.test('nothing is written above info; a level raised later is honoured', async (t) => {
  const { logger, lines } = capture('warn')
  const write = accessLogWriter(logger)
  write({ requestId: 'x', status: 200, stream: false, ms: 1 })
  t.equal(lines.length, 0)
  logger.level = 'info'
  write({ requestId: 'y', status: 200, stream: false, ms: 1 })
  t.equal(lines.length, 1)
})

t.test('a lone surrogate (JSON allows "\\ud800" in a model name) is escaped, so the line stays JSON that round-trips', async (t) => {
  // the one place the bytes differ from pino's: pino writes it raw and UTF-8 turns it into U+FFFD
  const { logger, lines } = capture()
  accessLogWriter(logger)({ requestId: 'x', model: 'a\ud800b', status: 200, stream: false, ms: 1 })
  t.equal(JSON.parse(lines[0]).model, 'a\ud800b')
})

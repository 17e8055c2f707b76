import { pino, type Logger } from 'pino'
import { BatchedStdout } from './batched-stdout.js'

export type { Logger }

/**
 * The process's logger: JSON lines on stdout. With `flushMs` > 0 they are written in batches, at
 * the latest `flushMs` after they were logged (as Envoy flushes its access log on an interval):
 * under load the access log's write per request was about a tenth of the gateway's CPU.
 */
export function createLogger(level: string, flushMs = 0): Logger {
  const options = { level, base: { name: 'brixgate' } }
  return flushMs > 0 ? pino(options, new BatchedStdout(flushMs)) : pino(options)
}

export const silentLogger: Logger = pino({ level: 'silent' })

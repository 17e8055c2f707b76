import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * The process logger: JSON lines on stdout. Written asynchronously: lines logged while a write is
 * under way go out together in the next one, so an access line per request is not a write(2) per
 * request; pino flushes what is left when the process exits.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'brixgate' } }, pino.destination({ dest: 1, sync: false }))
}

export const silentLogger: Logger = pino({ level: 'silent' })

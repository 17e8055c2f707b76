import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'brixgate' } })
}

export const silentLogger: Logger = pino({ level: 'silent' })

import { randomUUID } from 'node:crypto'

const VALID = /^[A-Za-z0-9._:-]{1,128}$/

/** The client's x-request-id when it is safe to echo and log, else a new UUID v4. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && VALID.test(header) ? header : randomUUID()
}

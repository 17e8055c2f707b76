import { randomFillSync } from 'node:crypto'

const VALID = /^[A-Za-z0-9._:-]{1,128}$/

const HEX_DIGITS = Buffer.from('0123456789abcdef')
/** Where each of a UUID's 16 bytes writes its two hex digits in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
const DIGITS_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
/** Random bytes for this many ids are drawn at once (as node's randomUUID does). */
const IDS_PER_DRAW = 128
const randomBytes = Buffer.alloc(16 * IDS_PER_DRAW)
let nextId = IDS_PER_DRAW
const idText = Buffer.from('00000000-0000-0000-0000-000000000000')

/**
 * A random UUID v4 (RFC 9562 §5.4) as one flat string. node's randomUUID() joins 20 pieces, which
 * V8 must flatten the first time the id is checked or written (node's and undici's header checks):
 * that flattening cost more than making the id here.
 */
export function newRequestId(): string {
  if (nextId === IDS_PER_DRAW) {
    randomFillSync(randomBytes)
    nextId = 0
  }
  const at = 16 * nextId++
  randomBytes[at + 6] = (randomBytes[at + 6] & 0x0f) | 0x40 // version 4
  randomBytes[at + 8] = (randomBytes[at + 8] & 0x3f) | 0x80 // variant 10
  for (let i = 0; i < 16; i++) {
    const byte = randomBytes[at + i]
    const to = DIGITS_AT[i]
    idText[to] = HEX_DIGITS[byte >> 4]
    idText[to + 1] = HEX_DIGITS[byte & 15]
  }
  return idText.toString('latin1')
}

/** The client's x-request-id when it is safe to echo and log, else a new UUID v4. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && VALID.test(header) ? header : newRequestId()
}

/**
 * Numbers as text, made from whole numbers. V8 writes a fraction, or a whole number past 2^31
 * (a Date.now()), through its slow double-to-text path: ~600–1,100 instructions a number, for
 * numbers that go into every answer's server-timing header and every access-log line. Small whole
 * numbers it writes fast.
 */

/** `String(Math.round(x * 100) / 100)`: x with at most two decimals, trailing zeros left out. */
export function hundredthsText(x: number): string {
  const hundredths = Math.round(x * 100)
  if (!(hundredths >= 0 && hundredths < 2 ** 31)) return String(hundredths / 100)
  const whole = Math.floor(hundredths / 100)
  const rest = hundredths - whole * 100
  if (rest === 0) return `${whole}`
  if (rest % 10 === 0) return `${whole}.${rest / 10}`
  return `${whole}.${rest < 10 ? '0' : ''}${rest}`
}

/** x rounded to one decimal (`Math.round(x * 10) / 10`), always written with it, as toFixed(1) writes it: "12.0". */
export function tenthsText(x: number): string {
  const tenths = Math.round(x * 10)
  if (!(tenths >= 0 && tenths < 2 ** 31)) return (tenths / 10).toFixed(1)
  const whole = Math.floor(tenths / 10)
  return `${whole}.${tenths - whole * 10}`
}

let millionsOf = -1
let millionsText = ''

/** `String(ms)` for a whole number of milliseconds since the epoch (Date.now()): its millions change every ~17 minutes. */
export function epochMsText(ms: number): string {
  const millions = Math.floor(ms / 1e6)
  if (!(millions > 0 && Number.isSafeInteger(ms))) return String(ms)
  if (millions !== millionsOf) {
    millionsOf = millions
    millionsText = String(millions)
  }
  // 1,000,000 + the rest: always seven digits, the last six with their leading zeros
  return millionsText + String(1e6 + (ms - millions * 1e6)).slice(1)
}

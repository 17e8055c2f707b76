import t from 'tap'
import fc from 'fast-check'
import { epochMsText, hundredthsText, tenthsText } from '../../src/util/number-text.js'

// each is a faster way to the very text of the expression it replaces

t.test('hundredthsText is String(Math.round(x * 100) / 100), for any number', async (t) => {
  fc.assert(fc.property(fc.double(), (x) => hundredthsText(x) === String(Math.round(x * 100) / 100)), { numRuns: 20_000 })
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (h) => hundredthsText(h / 100) === String(h / 100)), { numRuns: 20_000 })
  for (const x of [0, -0, 0.004, 0.005, 0.05, 0.1, 0.29, 1, 12.3, 12.34, 99.999, 2 ** 31 / 100, -1.5, NaN, Infinity]) t.equal(hundredthsText(x), String(Math.round(x * 100) / 100), String(x))
})

t.test('tenthsText is (Math.round(x * 10) / 10).toFixed(1), for any number', async () => {
  fc.assert(fc.property(fc.double(), (x) => tenthsText(x) === (Math.round(x * 10) / 10).toFixed(1)), { numRuns: 20_000 })
  fc.assert(fc.property(fc.double({ min: 0, max: 10_000, noNaN: true }), (x) => tenthsText(x) === (Math.round(x * 10) / 10).toFixed(1)), { numRuns: 20_000 })
})

t.test('epochMsText is String(ms), for any time', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (ms) => epochMsText(ms) === String(ms)), { numRuns: 20_000 })
  fc.assert(fc.property(fc.double(), (ms) => epochMsText(ms) === String(ms)), { numRuns: 5_000 })
  // the millions are kept from call to call: a time in another million is still written whole
  const now = Date.now()
  for (const ms of [now, now + 1, now + 1_000_000, now, 1_000_000, 999_999, 1_999_999]) t.equal(epochMsText(ms), String(ms))
})

import fc from 'fast-check'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { Counter, Histogram, Registry } from 'prom-client'
import t from 'tap'
import { HotCounter, HotHistogram } from '../../src/observability/hot-metrics.js'

// The hot metrics must expose exactly what prom-client's own Histogram and Counter would for the
// same observations: same families, series, buckets, sums and counts (parsed, so label order is free).

const BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1, 10]
const LABEL_VALUES = ['a', 'b', 'pod-"quoted"', 'c\\d']

const parsed = async (r: Registry) =>
  parsePrometheusTextFormat(await r.metrics())
    .map((f) => ({ ...f, metrics: f.metrics.map((m) => JSON.stringify(m)).sort() }))
    .sort((a, b) => a.name.localeCompare(b.name))

t.test('a hot histogram and counter expose what prom-client would, for any observations', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(LABEL_VALUES.length - 1), fc.nat(LABEL_VALUES.length - 1), fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(...BUCKETS))), { maxLength: 60 }),
      async (observations) => {
        const theirs = new Registry()
        const ours = new Registry()
        const h1 = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['pod', 'kind'], buckets: BUCKETS, registers: [theirs] })
        const h2 = new HotHistogram({ name: 'x_seconds', help: 'h', labelNames: ['pod', 'kind'], buckets: BUCKETS, registers: [ours] })
        const u1 = new Histogram({ name: 'y_seconds', help: 'unlabelled', buckets: BUCKETS, registers: [theirs] })
        const u2 = new HotHistogram({ name: 'y_seconds', help: 'unlabelled', buckets: BUCKETS, registers: [ours] }).labels()
        const c1 = new Counter({ name: 'z_total', help: 'c', labelNames: ['pod'], registers: [theirs] })
        const c2 = new HotCounter({ name: 'z_total', help: 'c', labelNames: ['pod'], registers: [ours] })
        for (const [i, j, v] of observations) {
          h1.observe({ pod: LABEL_VALUES[i], kind: LABEL_VALUES[j] }, v)
          h2.labels(LABEL_VALUES[i], LABEL_VALUES[j]).observe(v)
          u1.observe(v)
          u2.observe(v)
          c1.inc({ pod: LABEL_VALUES[j] }, v)
          c2.labels(LABEL_VALUES[j]).inc(v)
        }
        const [a, b] = [await parsed(theirs), await parsed(ours)]
        // prom-client prints a counter no one incremented as its zero series; a hot counter has no series until used
        if (observations.length === 0) a.find((f) => f.name === 'z_total')!.metrics = []
        t.same(b, a)
      }
    ),
    { numRuns: 150 }
  )
})

t.test('values a counter or histogram cannot take are ignored, never thrown', async (t) => {
  const r = new Registry()
  const h = new HotHistogram({ name: 'h', help: 'h', buckets: [1], registers: [r] }).labels()
  const c = new HotCounter({ name: 'c_total', help: 'c', registers: [r] }).labels()
  h.observe(Number.NaN)
  h.observe(Infinity)
  c.inc(-1)
  c.inc(Number.NaN)
  t.equal(h.count, 0)
  t.equal(c.value, 0)
  c.inc()
  t.equal(c.value, 1)
  t.match(await r.metrics(), /^c_total 1$/m)
  r.resetMetrics()
  t.match(await r.metrics(), /^c_total 0$/m, 'reset zeroes the series')
  c.inc(2)
  h.observe(0.5)
  t.match(await r.metrics(), /^c_total 2$/m, 'a series kept by the hot path is still the exported one after a reset')
  t.match(await r.metrics(), /^h_count 1$/m)
})

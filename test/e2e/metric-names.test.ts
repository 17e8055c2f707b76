import { readFileSync } from 'node:fs'
import t from 'tap'
import { startGateway } from '../helpers/gateway.js'

// Every exported name is documented in docs/metrics.md and every documented one exists (no doubled prefixes).
t.test('exported metric names match docs/metrics.md', async (t) => {
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } } }, { defaultMetrics: true })
  t.teardown(gw.close)
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  const exported = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1])
  t.ok(exported.every((n) => n.startsWith('brixgate_')), 'one prefix')
  t.same(exported.filter((n) => /brixgate_(\w+_)?brixgate_|process_process|nodejs_nodejs/.test(n)), [], 'no doubled prefix')
  const own = exported.filter((n) => !/^brixgate_(process|nodejs)_/.test(n)).sort()
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8')
  const documented = [...doc.matchAll(/^\| `(brixgate_\w+)` \|/gm)].map((m) => m[1]).sort()
  t.same(own, documented)
  t.ok(exported.includes('brixgate_process_cpu_user_seconds_total'))
})

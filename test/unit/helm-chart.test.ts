import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { parseConfig } from '../../src/config/load.js'

// Static checks of the chart's files; test/e2e/helm-chart-real.test.ts renders it with the real Helm.
const chart = fileURLToPath(new URL('../../charts/brixgate/', import.meta.url))
const values = parse(readFileSync(`${chart}values.yaml`, 'utf8')) as Record<string, unknown>
const templates = readdirSync(`${chart}templates`).map((f) => ({ file: f, text: readFileSync(`${chart}templates/${f}`, 'utf8') }))

t.test('Chart.yaml and values.yaml parse', async (t) => {
  const meta = parse(readFileSync(`${chart}Chart.yaml`, 'utf8'))
  t.match(meta, { apiVersion: 'v2', name: 'brixgate', type: 'application' })
  t.type(values, 'object')
})

t.test('every .Values path used in a template exists in values.yaml', async (t) => {
  const has = (path: string[]) => {
    let cur: unknown = values
    for (const key of path) {
      if (cur === null || typeof cur !== 'object' || !(key in cur)) return false
      cur = (cur as Record<string, unknown>)[key]
    }
    return true
  }
  let count = 0
  for (const { file, text } of templates) {
    for (const m of text.matchAll(/\$?\.Values((?:\.[A-Za-z0-9_]+)+)/g)) {
      count++
      t.ok(has(m[1].slice(1).split('.')), `${file}: .Values${m[1]}`)
    }
  }
  t.ok(count > 30, `checked ${count} references`)
})

t.test('template actions open and close in balance', async (t) => {
  for (const { file, text } of templates) {
    const opens = [...text.matchAll(/\{\{-?\s*(if|range|with|define)\b/g)].length
    const ends = [...text.matchAll(/\{\{-?\s*end\s*-?\}\}/g)].length
    t.equal(opens, ends, file)
  }
})

t.test('every top-level key of values.yaml has a comment right above it', async (t) => {
  const lines = readFileSync(`${chart}values.yaml`, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (/^[A-Za-z]/.test(lines[i])) t.match(lines[i - 1] ?? '', /^#/, `"${lines[i].split(':')[0]}" is documented`)
  }
})

t.test('the config rendered into the ConfigMap passes the gateway schema', async (t) => {
  const config = parseConfig(values.config, 'values.yaml#config')
  t.ok(config.discovery.kubernetes, 'kubernetes discovery')
  t.equal(config.server.port, 8888)
  const deployment = templates.find((x) => x.file === 'deployment.yaml')!.text
  t.match(deployment, '/etc/brixgate/config.yaml', 'the Deployment passes the mounted file, as the Dockerfile expects')
})

t.test('secrets reach the config through ${NAME}', async (t) => {
  const withSecrets = {
    ...(values.config as object),
    rateLimit: { store: 'redis', redis: { url: '${BRIXGATE_REDIS_URL}' } },
    auth: { apiKeys: [{ key: '${BRIXGATE_KEY_TEAM_A}', user: 'team-a' }] }
  }
  const env = { BRIXGATE_REDIS_URL: 'redis://redis:6379', BRIXGATE_KEY_TEAM_A: 'sk-team-a-123456' }
  const config = parseConfig(withSecrets, 'values', env)
  t.equal(config.rateLimit.redis.url, 'redis://redis:6379')
  t.throws(() => parseConfig(withSecrets, 'values', {}), /rateLimit\.redis\.url: environment variable BRIXGATE_REDIS_URL is not set/)
})

/**
 * npm run bench:hang — how long a hung engine keeps its place in rotation. Three simulator
 * processes behind the built CLI; long streams run on every pod; one pod is frozen (SIGSTOP: it
 * still accepts connections, like an engine stuck in a kernel). Measures the time from the freeze
 * to the gateway's hung-pod ejection, against the bound hangSeconds + one scrape interval.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { fmt, startChild, type Started } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const cli = here('../src/cli.js')
const HANG_SECONDS = 5
const SCRAPE_MS = 2000

async function ejectedHung(url: string): Promise<boolean> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return /brixgate_outlier_ejections_total\{reason="hung"\} [1-9]/.test(text)
}

async function main(): Promise<void> {
  const pods: Started[] = []
  // time scale 1 on an a100 profile: a 2,000-token answer streams for tens of seconds
  for (let i = 0; i < 3; i++) pods.push(await startChild(process.execPath, [cli, 'sim', '--host', '127.0.0.1', '--port', '0', '--model', 'hang', '--log-level', 'error']))
  const cfg = join(mkdtempSync(join(tmpdir(), 'brixgate-hang-')), 'config.json')
  writeFileSync(
    cfg,
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
      telemetry: { scrapeIntervalMs: SCRAPE_MS },
      upstream: { outlier: { hangSeconds: HANG_SECONDS } },
      routing: { defaultStrategy: 'least-request' },
      discovery: { static: { models: [{ name: 'hang', endpoints: pods.map((p, i) => ({ address: new URL(p.url).host, name: `pod-${i}` })) }] } }
    })
  )
  const gw = await startChild(process.execPath, [cli, '--config', cfg])
  const pool = new Pool(gw.url, { connections: 16 })
  const streams = Array.from({ length: 9 }, () =>
    pool
      .request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hang', messages: [{ role: 'user', content: 'tell me a long story' }], stream: true, max_tokens: 2000 }) })
      .then(async (res) => {
        res.body.on('data', () => undefined)
        await new Promise((r) => res.body.once('end', r).once('error', r))
      })
      .catch(() => undefined)
  )
  await new Promise((r) => setTimeout(r, 1500)) // every pod is streaming
  const frozenAt = Date.now()
  pods[0].child.kill('SIGSTOP')
  let detectedMs = NaN
  while (Date.now() - frozenAt < (HANG_SECONDS + 10) * 1000) {
    if (await ejectedHung(gw.url)) {
      detectedMs = Date.now() - frozenAt
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const bound = HANG_SECONDS * 1000 + SCRAPE_MS
  console.log(`\nhung pod (SIGSTOP with 3 streams running on it): ejected as hung after ${fmt(detectedMs / 1000, 2)} s; bound hangSeconds + one scrape interval = ${fmt(bound / 1000, 1)} s — ${detectedMs <= bound ? 'met' : 'NOT met'}`)
  pods[0].child.kill('SIGCONT')
  gw.stop()
  for (const p of pods) p.stop()
  await Promise.race([Promise.all(streams), new Promise((r) => setTimeout(r, 500))])
  process.exit(0)
}

await main()

/**
 * npm run bench:profile — where brixgate's CPU goes on the request path, step by step.
 *
 * One fixed-answer backend; brixgate with its default config (cache-aware, telemetry, metrics,
 * access log), warmed up under load (V8 is still optimizing brixgate for its first ~15 s), then
 * V8's CPU profiler (the one `node --cpu-prof` drives; started and stopped by bench/v8-sampler.ts
 * so the profile holds only the measured load) over one wrk run. Prints µs per request:
 *   - by step of the request path (docs/architecture.md's map): each sample goes to the innermost
 *     brixgate function on its stack, with the library and engine work that function called;
 *   - by layer: where the time itself was spent (brixgate's code, undici, node:http, V8's GC...);
 *   - the brixgate functions that cost most, inclusive of what they call.
 * The bare node http + undici forwarder and brixgate's forwarding core are profiled the same way
 * in the same run, and the layer table shows all three side by side: what brixgate's features add.
 * Writes the .cpuprofiles (open one in Chrome DevTools' Performance panel or speedscope) and, when
 * Chromium is installed (/usr/bin/chromium), brixgate's flame graph as a PNG drawn by speedscope.
 *
 *   npm run bench:profile -- [--quick] [--out=DIR]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { cpuSeconds, fmt, load, loadGenerator, startChild } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const quick = process.argv.includes('--quick')
const outDir = resolve(process.argv.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? 'bench-results')
const WARM_SECONDS = quick ? 5 : 15
const SECONDS = quick ? 4 : 10
const path = '/v1/chat/completions'
const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Hello there, how are you?' }], max_tokens: 8 })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
}

/** A frame's path inside brixgate's build (`pipeline/attempt.js`), or undefined for any other code. */
function ownFile(frame: CallFrame): string | undefined {
  const at = frame.url.indexOf('/dist/src/')
  return at < 0 ? undefined : frame.url.slice(at + '/dist/src/'.length)
}

/** docs/architecture.md's map: the step a brixgate function belongs to. */
export function stepOf(file: string, fn: string): string {
  if (file === 'pipeline/pipeline.js') {
    if (fn === 'commit' || fn === 'commitHeaders' || fn === 'upstreamError') return 'commit (answer check, usage, headers)'
    if (fn === 'finish' || fn === 'settle' || fn === 'settled' || fn === 'recordStatus' || fn === 'accessLog') return 'settle (limits, in-flight, metrics, access log)'
    if (fn === 'routed') return 'route'
    if (fn === 'forward' || fn.startsWith('onUpstream') || fn === 'onFirstByte' || fn === 'onRequestWritten') return 'forward'
    return 'pipeline (run, fail)'
  }
  if (file.startsWith('server/')) return 'edge (node:http adapter, server/)'
  if (file === 'pipeline/identify.js' || file === 'pipeline/request-id.js') return 'identify'
  if (file === 'pipeline/parse.js' || file.startsWith('pipeline/routing-') || file === 'pipeline/endpoints.js' || file.startsWith('discovery/')) return 'parse'
  if (file.startsWith('limits/') || file.startsWith('admission/')) return 'admit'
  if (file === 'pipeline/route.js' || file.startsWith('routing/')) return 'route'
  if (file === 'pipeline/attempt.js' || file.startsWith('proxy/') || file === 'pipeline/abort-flag.js') {
    return file === 'proxy/sse-relay.js' || file === 'proxy/usage.js' ? 'relay' : 'forward'
  }
  if (file === 'pipeline/relay.js') return 'relay'
  if (file.startsWith('observability/')) return 'settle (limits, in-flight, metrics, access log)'
  if (file.startsWith('telemetry/')) return 'telemetry (load tickets, timings)'
  return file
}

/** Where a sample's own time went, by the code of the frame it stopped in. */
export function layerOf(frame: CallFrame): string {
  const { url, functionName } = frame
  if (functionName === '(garbage collector)') return "V8's garbage collector"
  if (functionName === '(program)') return 'native code outside JavaScript (V8, libuv, the kernel)'
  if (url.includes('/dist/src/')) return "brixgate's own code"
  if (url.includes('/node_modules/undici/')) return 'undici'
  if (/\/node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format-unescaped)\//.test(url)) return 'pino'
  if (url.includes('/node_modules/')) return 'other packages'
  if (/^node:(_http|http|net|stream|internal\/streams|internal\/http)/.test(url)) return 'node:http, node:net and streams'
  if (url.startsWith('node:')) return 'other node: modules (timers, events, promises...)'
  // V8's own built-ins (JSON, strings) count for the JavaScript function that called them; frames
  // without a file are node's C++ bindings, where a socket write's system call is the cost
  if (/^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|readStart|readStop)$/.test(functionName)) return "socket writes (the kernel's TCP send)"
  return "node's C++ bindings (buffers, timers, clock...)"
}

interface Breakdown {
  /** Sampled µs per request by step, by layer and by brixgate function (inclusive). */
  steps: Map<string, number>
  layers: Map<string, number>
  functions: Map<string, number>
  /** µs per request the main thread was busy, by the profile. */
  busy: number
}

/** Splits a CPU profile's busy time over requests (idle samples left out). */
export function breakdown(profile: CpuProfile, requests: number): Breakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const usPerSample = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length)
  const hits = new Map<number, number>()
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
  const steps = new Map<string, number>()
  const layers = new Map<string, number>()
  const functions = new Map<string, number>()
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us)
  let busy = 0
  for (const [id, count] of hits) {
    const node = byId.get(id)!
    if (node.callFrame.functionName === '(idle)') continue
    const us = (count * usPerSample) / requests
    busy += us
    add(layers, layerOf(node.callFrame), us)
    // the innermost brixgate frame on the stack owns this sample, with what it called
    let at: number | undefined = id
    let owner: { file: string; fn: string } | undefined
    while (at !== undefined && owner === undefined) {
      const frame = byId.get(at)!.callFrame
      const file = ownFile(frame)
      if (file !== undefined) owner = { file, fn: frame.functionName || '(anonymous)' }
      at = parent.get(at)
    }
    if (owner) {
      add(steps, stepOf(owner.file, owner.fn), us)
      add(functions, `${owner.fn} (${owner.file})`, us)
    } else if (node.callFrame.functionName === '(garbage collector)' || node.callFrame.functionName === '(program)') {
      add(steps, 'GC and native work not under a JavaScript frame', us)
    } else {
      add(steps, 'sockets, parsers and timers with no brixgate frame above them', us)
    }
  }
  return { steps, layers, functions, busy }
}

/** speedscope's "left heavy" view (identical stacks merged: a flame graph) as a PNG, drawn in Chromium. */
export async function flameGraph(profileFile: string, png: string): Promise<boolean> {
  if (!existsSync('/usr/bin/chromium')) return false
  const require = createRequire(import.meta.url)
  const speedscope = join(dirname(require.resolve('speedscope/package.json')), 'dist', 'release')
  const { chromium } = await import('playwright-core')
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1)) || 'index.html'
    const file = name === 'profile.cpuprofile' ? profileFile : join(speedscope, name.replace(/\.\.+/g, ''))
    if (!existsSync(file)) return res.writeHead(404).end()
    const type = file.endsWith('.html') ? 'text/html' : file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'application/octet-stream'
    res.writeHead(200, { 'content-type': type }).end(readFileSync(file))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 1800, height: 640 } })
    await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(`${base}/profile.cpuprofile`)}&title=brixgate&view=left-heavy`)
    await page.waitForSelector('canvas', { timeout: 30_000 })
    await sleep(2000)
    await page.screenshot({ path: png })
    return true
  } finally {
    await browser.close()
    server.close()
  }
}

function table(title: string, rows: Map<string, number>, total: number, limit = Infinity): void {
  console.log(`\n| ${title} | µs per request | share |`)
  console.log('|---|---:|---:|')
  for (const [k, us] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, limit)) console.log(`| ${k} | ${fmt(us, 1)} | ${fmt((100 * us) / total, 0)} % |`)
}

interface Profiled {
  rps: number
  /** µs of CPU per request, all the process's threads (from /proc). */
  cpuUs: number
  file: string
  breakdown: Breakdown
}

/** Starts one target with the sampler, warms it, profiles one wrk run. */
async function profileTarget(args: string[], file: string): Promise<Profiled> {
  process.env.V8_SAMPLE = 'cpu'
  process.env.V8_SAMPLE_FILE = file
  rmSync(file, { force: true })
  const target = await startChild(process.execPath, ['--import', here('./v8-sampler.js'), ...args])
  try {
    await load({ url: target.url + path, body, seconds: WARM_SECONDS, connections: 64 })
    target.child.kill('SIGUSR2')
    await sleep(300)
    const before = cpuSeconds(target.child.pid) ?? NaN
    const run = await load({ url: target.url + path, body, seconds: SECONDS, connections: 64 })
    const cpuUs = (((cpuSeconds(target.child.pid) ?? NaN) - before) * 1e6) / run.requests
    target.child.kill('SIGUSR2')
    for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(100)
    await sleep(500)
    return { rps: run.rps, cpuUs, file, breakdown: breakdown(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, run.requests) }
  } finally {
    target.stop()
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'brixgate-profile-'))
  mkdirSync(outDir, { recursive: true })
  const node = `node${process.versions.node.split('.')[0]}`
  const backend = await startChild(process.execPath, [here('./backend.js')])
  const cfg = join(dir, 'config.json')
  const discovery = { static: { models: [{ name: 'bench', endpoints: [new URL(backend.url).host] }] } }
  writeFileSync(cfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, routing: { defaultStrategy: 'cache-aware' }, discovery }))
  const targets: [string, string, string[]][] = [
    ['brixgate', 'brixgate', [here('../src/cli.js'), '--config', cfg]],
    ['bare node http + undici', 'bare-forwarder', [here('./undici-forwarder.js'), backend.url]],
    ['forwarding core', 'forwarding-core', [here('./core-forwarder.js'), backend.url]]
  ]
  const results = new Map<string, Profiled>()
  try {
    for (const [name, slug, args] of targets) {
      results.set(name, await profileTarget(args, join(outDir, `${slug}-${node}.cpuprofile`)))
      console.error(`profiled ${name}`)
    }
  } finally {
    backend.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const gw = results.get('brixgate')!
  const b = gw.breakdown
  console.log(`\nnode ${process.version}; load generator ${loadGenerator}, 64 connections; each target ${WARM_SECONDS} s of warm-up, then ${SECONDS} s profiled\n`)
  console.log('| target | req/s while profiled | CPU µs per request, all threads (/proc) | main thread µs per request (the profile) |')
  console.log('|---|---:|---:|---:|')
  for (const [name, r] of results) console.log(`| ${name} | ${fmt(r.rps, 0)} | ${fmt(r.cpuUs, 1)} | ${fmt(r.breakdown.busy, 1)} |`)
  table("brixgate's step (the innermost brixgate function on the stack, with what it called)", b.steps, b.busy)
  const layers = [...new Set([...results.values()].flatMap((r) => [...r.breakdown.layers.keys()]))]
  layers.sort((x, y) => (b.layers.get(y) ?? 0) - (b.layers.get(x) ?? 0))
  const names = [...results.keys()]
  console.log(`\n| layer (where the time itself was spent), µs per request | ${names.join(' | ')} | brixgate − forwarding core |`)
  console.log(`|---|${names.map(() => '---:').join('|')}|---:|`)
  const core = results.get('forwarding core')!.breakdown.layers
  for (const layer of layers) {
    const cells = names.map((n) => fmt(results.get(n)!.breakdown.layers.get(layer) ?? 0, 1))
    console.log(`| ${layer} | ${cells.join(' | ')} | ${fmt((b.layers.get(layer) ?? 0) - (core.get(layer) ?? 0), 1)} |`)
  }
  table('brixgate function, with what it called', b.functions, b.busy, 15)
  console.log(`\nprofiles: ${[...results.values()].map((r) => r.file).join(', ')}`)
  const png = gw.file.replace(/\.cpuprofile$/, '.png')
  if (await flameGraph(gw.file, png)) console.log(`brixgate's flame graph: ${png}`)
  else console.log('flame graph: needs Chromium (apt-get install chromium); or open the profile in https://www.speedscope.app')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

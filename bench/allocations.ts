/**
 * npm run bench:alloc — bytes the JavaScript heap allocates per proxied request, and where.
 *
 * Every object a request makes is work for the young-generation collector and memory the caches
 * must hold while the kernel, node:http and undici run too: on this project's machine 14 KB of
 * short-lived objects per request took ~13 % off the forwarding core's req/s (docs/benchmarks.md).
 * This counts it. One fixed-answer backend; brixgate with its default config, the bare node http +
 * undici forwarder and brixgate's forwarding core, each run under wrk while V8's sampling heap
 * profiler (bench/v8-sampler.ts, loaded with --import) records every allocation, including the
 * objects the collector has already taken back. Prints bytes per request with ratios against the
 * forwarding core measured in the same run, and brixgate's largest allocation sites.
 *
 * Sites are functions as V8 sees them: an allocation inlined into its caller counts for the caller.
 * `--exact-sites` runs the targets with --no-turbo-inlining, which names the allocating function
 * itself (and makes every target slower; the totals stay within a few per cent).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt, load, loadGenerator, startChild, type Started } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const quick = process.argv.includes('--quick')
const exactSites = process.argv.includes('--exact-sites')
const SECONDS = quick ? 2 : 5
const path = '/v1/chat/completions'
const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Hello there, how are you?' }], max_tokens: 8 })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number }
  selfSize: number
  children: ProfileNode[]
}

/** Bytes allocated per site ("function file:line") over the whole profile. */
function sites(head: ProfileNode): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (n: ProfileNode) => {
    const f = n.callFrame
    const site = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}${f.url ? `:${f.lineNumber + 1}` : ''}`
    if (n.selfSize > 0) out.set(site, (out.get(site) ?? 0) + n.selfSize)
    for (const c of n.children) walk(c)
  }
  walk(head)
  return out
}

/** Loads the target, samples its allocations over one wrk run; bytes per request by site. */
async function measure(target: Started, file: string): Promise<{ requests: number; bySite: Map<string, number> }> {
  await load({ url: target.url + path, body, seconds: 1, connections: 16 })
  target.child.kill('SIGUSR2')
  await sleep(300)
  const run = await load({ url: target.url + path, body, seconds: SECONDS, connections: 64 })
  target.child.kill('SIGUSR2')
  for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(100)
  await sleep(200)
  const bySite = sites((JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode }).head)
  for (const [site, bytes] of bySite) bySite.set(site, bytes / run.requests)
  return { requests: run.requests, bySite }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'brixgate-alloc-'))
  const backend = await startChild(process.execPath, [here('./backend.js')])
  const cfg = join(dir, 'config.json')
  const discovery = { static: { models: [{ name: 'bench', endpoints: [new URL(backend.url).host] }] } }
  writeFileSync(cfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, routing: { defaultStrategy: 'cache-aware' }, discovery }))
  const flags = (name: string) => [...(exactSites ? ['--no-turbo-inlining'] : []), '--import', here('./v8-sampler.js'), name]
  const targets: [string, string[]][] = [
    ['brixgate', [...flags(here('../src/cli.js')), '--config', cfg]],
    ['bare node http + undici', [...flags(here('./undici-forwarder.js')), backend.url]],
    ["brixgate's forwarding core (no features)", [...flags(here('./core-forwarder.js')), backend.url]]
  ]
  const results = new Map<string, { requests: number; bySite: Map<string, number> }>()
  try {
    for (const [name, args] of targets) {
      const file = join(dir, `${results.size}.heapprofile`)
      process.env.V8_SAMPLE_FILE = file
      const target = await startChild(process.execPath, args)
      try {
        results.set(name, await measure(target, file))
      } finally {
        target.stop()
      }
      console.error(`measured ${name}`)
    }
  } finally {
    backend.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
  const core = total(results.get("brixgate's forwarding core (no features)")!.bySite)
  console.log(`\nnode ${process.version}; load generator ${loadGenerator}, 64 connections, ${SECONDS} s per target${exactSites ? '; --no-turbo-inlining' : ''}\n`)
  console.log('| target | bytes allocated per request | ÷ the forwarding core | requests sampled |')
  console.log('|---|---:|---:|---:|')
  for (const [name, r] of results) console.log(`| ${name} | ${fmt(total(r.bySite), 0)} | ${fmt(total(r.bySite) / core)} | ${r.requests} |`)
  const gateway = results.get('brixgate')!.bySite
  console.log("\nbrixgate's largest allocation sites (bytes per request):\n")
  console.log('| site | bytes |')
  console.log('|---|---:|')
  for (const [site, bytes] of [...gateway].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`| \`${site}\` | ${fmt(bytes, 0)} |`)
  const own = [...gateway].filter(([site]) => site.includes('dist/src/')).reduce((a, [, b]) => a + b, 0)
  console.log(`\nin brixgate's own modules (dist/src): ${fmt(own, 0)} bytes per request`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

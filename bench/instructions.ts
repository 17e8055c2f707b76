/**
 * npm run bench:instructions — machine instructions per proxied request, counted by valgrind.
 *
 * Requests per second on a shared 2-core machine move ±10–30 % from hour to hour, so a change worth
 * 1–3 % of a request cannot be seen in `bench:proxy`. valgrind's callgrind counts the instructions a
 * process executes instead of timing it: for the same build, Node and requests the count is the same
 * within about half a per cent, however busy the machine is. Each target runs under callgrind with counting off
 * while it warms up (V8 keeps optimizing brixgate for its first ~150,000 requests), then the count
 * is read over fixed numbers of requests (windows) from a load driver in this process: brixgate
 * with its default config, the bare node http + undici forwarder and brixgate's forwarding core,
 * and with --baseline another build beside this one. Instructions are not time (a cache miss costs
 * more than an add) and the kernel's share of a request is not in them: this is the tool for an
 * A/B of code, `bench:proxy` the one for what a user gets.
 *
 * Instructions V8 spends compiling are shown apart and left out of the totals, and a window in which
 * V8 was still optimizing (compiling >1 % of it) is left out and another one counted: when V8
 * finishes optimizing differs from run to run. Garbage collection stays in: its cost follows the bytes a
 * request allocates. Writes each target's last window as a callgrind file (callgrind_annotate or
 * KCachegrind read it; `callgrind_annotate --inclusive=yes --tree=caller` shows who calls what).
 * V8's compiled JavaScript is only addresses to valgrind: this script names it, in the tables and
 * in those files, from the map of its code V8 writes with --perf-basic-prof.
 *
 *   npm run bench:instructions -- [--quick] [--baseline=../base/dist/src/cli.js] [--out=DIR]
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { fmt, median, startChild, type Started } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const quick = process.argv.includes('--quick')
const baselineCli = arg('baseline')
const outDir = resolve(arg('out') ?? 'bench-results')
const WARM_REQUESTS = quick ? 40_000 : 150_000
const WINDOWS = quick ? 4 : 8
const WINDOW_REQUESTS = quick ? 800 : 1_500
const CONNECTIONS = 16
/** A window in which compiling took more than this share of the instructions is left out. */
const STILL_OPTIMIZING = 0.01
const path = '/v1/chat/completions'
const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Hello there, how are you?' }], max_tokens: 8 })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const BARE = 'bare node http + undici'
const CORE = "brixgate's forwarding core (no features)"

/** One function's own instructions, as callgrind_annotate prints it. */
export interface FunctionCost {
  fn: string
  /** The executable or library it is in (`???` for code V8 compiled at run time). */
  object: string
  instructions: number
}

/** The per-function lines of `callgrind_annotate` output ("1,234 (0.5%)  file:function [object]"). */
export function parseAnnotate(text: string): FunctionCost[] {
  const out: FunctionCost[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.+?) \[([^\]]*)\]\s*$/.exec(line)
    if (!m) continue
    const at = m[2].indexOf(':') // file:function; C++ names have colons of their own, file names none
    out.push({ instructions: Number(m[1].replaceAll(',', '')), fn: at < 0 ? m[2] : m[2].slice(at + 1), object: m[3] })
  }
  return out
}

/** V8's map of the code it compiled (`node --perf-basic-prof`: "start size name" in hex, one a line). */
export function perfMap(text: string): (address: number) => string | undefined {
  const byStart = new Map<number, { size: number; name: string }>()
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.+)$/.exec(line)
    // a later line for the same start is newer code at a reused address
    if (m) byStart.set(parseInt(m[1], 16), { size: parseInt(m[2], 16), name: m[3] })
  }
  const starts = [...byStart.keys()].sort((a, b) => a - b)
  return (address) => {
    let lo = 0
    let hi = starts.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (starts[mid] <= address) lo = mid + 1
      else hi = mid - 1
    }
    const start = starts[hi]
    const entry = start === undefined ? undefined : byStart.get(start)!
    return entry && address < start + entry.size ? entry.name : undefined
  }
}

/** "JS:*commit file:///srv/x/dist/src/pipeline/pipeline.js:120:9" → "commit dist/src/pipeline/pipeline.js:120" */
export function jsName(name: string): string {
  // V8's built-ins, where it copied them next to the code it compiles (Node 24), as the binary names them
  if (name.startsWith('Builtin:')) return `Builtins_${name.slice('Builtin:'.length)}`
  // the tier before the name: ~ interpreted, ^ Sparkplug, + or +' Maglev, * TurboFan
  const m = /^\w+:[*~^+']*(\S*) (?:file:\/\/)?(\S*?)(?::(\d+):\d+)?$/.exec(name)
  if (!m) return name
  const file = m[2].replace(/^.*\/(dist|node_modules)\//, '$1/')
  return `${m[1] || '(anonymous)'} ${file}${m[3] ? `:${m[3]}` : ''}`
}

export const COMPILING = 'compiling (V8 optimizing code; left out of the totals)'

/** What kind of work a function is, for the breakdown table. */
export function categoryOf({ fn, object }: FunctionCost): string {
  if (/compiler::|maglev|turboshaft|v8::internal::(Compiler|OptimizedCompilationJob|Parser|Scanner|interpreter::BytecodeGenerator|Zone)/i.test(fn)) return COMPILING
  if (/v8::internal::(heap::|Heap|.*Marking|.*MarkCompact|.*Scaveng|.*Sweep|.*Evacuat|.*RememberedSet|.*SlotSet|MemoryChunk|.*BodyDescriptor|HeapObject::SizeFromMap|.*GCTracer)|MemoryChunk/.test(fn)) return 'garbage collection'
  if (/^RegExp[:.]|^Builtins_RegExp/.test(fn)) return 'regular expressions (V8)'
  if ((object === '???' || /^0x[0-9a-f]+$/.test(fn)) && !fn.startsWith('Builtins_')) {
    if (fn.includes(' dist/src/')) return "brixgate's own JavaScript"
    if (fn.includes(' node_modules/undici/')) return 'undici (JavaScript)'
    if (fn.includes(' node_modules/')) return 'other packages (JavaScript)'
    if (/ node:/.test(fn)) return "node's own JavaScript (node:http, streams, timers...)"
    return 'JavaScript compiled by V8, not named'
  }
  if (/Json|JSON/.test(fn)) return 'JSON parse and stringify (V8)'
  if (/^Builtins_.*IC(_|$)|^Builtins_.*IC_Megamorphic/.test(fn)) return "V8's property-access stubs (inline caches)"
  if (/^Builtins_(String|.*Utf8|.*Latin1)|v8::internal::String|v8::String|StringTable/.test(fn)) return "V8's string work"
  if (fn.startsWith('Builtins_')) return "V8's other built-ins (promises, calls, arrays...)"
  if (/^(node::|uv_|uv__|llhttp)/.test(fn)) return 'node and libuv (C++ and C)'
  if (/libc\.so|ld-linux/.test(object)) return 'C library (malloc, memcpy, system call wrappers)'
  if (fn.startsWith('v8::')) return "V8's runtime (C++)"
  return 'other'
}

/** A target's instructions per request: every window's, its functions summed over windows. */
interface Counted {
  windows: number[]
  compiling: number
  /** Windows left out because V8 was still optimizing in them. */
  skipped: number
  byFunction: Map<string, FunctionCost>
  lastDump: string
  /** The last window's names of code V8 compiled (its map is gone once the target stops). */
  lastNames: (address: number) => string | undefined
}

/**
 * A callgrind file with V8's compiled code named ("fn=(12) 0x…" → "fn=(12) commit dist/src/…:120"),
 * so that callgrind_annotate's --tree=caller and KCachegrind show who calls what in JavaScript too.
 */
export function withJsNames(text: string, named: (address: number) => string | undefined): string {
  return text.replace(/^(c?fn=\(\d+\)) (0x[0-9a-f]+)$/gm, (line, head: string, address: string) => {
    const name = named(parseInt(address, 16))
    return name === undefined ? line : `${head} ${jsName(name)}`
  })
}

/** Sends exactly `count` requests, `CONNECTIONS` at a time, over the pool's kept-alive connections. */
async function drive(pool: Pool, count: number): Promise<void> {
  let sent = 0
  const worker = async () => {
    while (sent < count) {
      sent++
      const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body })
      await res.body.dump()
      if (res.statusCode !== 200) throw new Error(`a request failed with ${res.statusCode}`)
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, worker))
}

const callgrindControl = (...args: string[]) => execFileSync('callgrind_control', args, { stdio: 'ignore' })

/** Warms the target up with counting off, then counts instructions over each window of requests. */
async function count(target: Started, dir: string, prefix: string): Promise<Counted> {
  const pid = String(target.child.pid)
  const mapFile = `/tmp/perf-${pid}.map`
  const pool = new Pool(target.url, { connections: CONNECTIONS })
  try {
    await drive(pool, WARM_REQUESTS)
    callgrindControl('-i', 'on', pid)
    await drive(pool, 500) // valgrind translates the code again, with counting in it
    const counted: Counted = { windows: [], compiling: 0, skipped: 0, byFunction: new Map(), lastDump: '', lastNames: () => undefined }
    for (let dumps = 1; counted.windows.length < WINDOWS; dumps++) {
      callgrindControl('-z', pid)
      await drive(pool, WINDOW_REQUESTS)
      callgrindControl('-d', pid)
      const dump = join(dir, `${prefix}.${pid}.out.${dumps}`)
      for (let i = 0; i < 100 && !existsSync(dump); i++) await sleep(50)
      const named = perfMap(existsSync(mapFile) ? readFileSync(mapFile, 'utf8') : '')
      const functions = parseAnnotate(execFileSync('callgrind_annotate', ['--threshold=100', dump], { encoding: 'utf8', maxBuffer: 256 << 20 })).map((f) => {
        const name = f.object === '???' && f.fn.startsWith('0x') ? named(parseInt(f.fn, 16)) : undefined
        return name === undefined ? f : { ...f, fn: jsName(name) }
      })
      const compiling = functions.reduce((sum, f) => sum + (categoryOf(f) === COMPILING ? f.instructions : 0), 0)
      const own = functions.reduce((sum, f) => sum + f.instructions, 0) - compiling
      // V8 still optimizing means code that is not yet what it will run: such a window is left out
      // (up to twice the windows wanted, so a target that never settles still ends)
      if (compiling > own * STILL_OPTIMIZING && counted.skipped < WINDOWS * 2) {
        counted.skipped++
        continue
      }
      counted.compiling += compiling / WINDOW_REQUESTS
      for (const f of functions) {
        const key = `${f.fn} [${f.object}]`
        const sum = counted.byFunction.get(key)
        counted.byFunction.set(key, { ...f, instructions: (sum?.instructions ?? 0) + f.instructions / WINDOW_REQUESTS })
      }
      counted.windows.push(own / WINDOW_REQUESTS)
      counted.lastDump = dump
      counted.lastNames = named
    }
    // sums over the windows kept → means per request
    counted.compiling /= WINDOWS
    for (const f of counted.byFunction.values()) f.instructions /= WINDOWS
    return counted
  } finally {
    await pool.close()
    rmSync(mapFile, { force: true })
  }
}

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
  } catch {
    console.error('bench:instructions needs valgrind (Debian: apt-get install valgrind)')
    process.exit(1)
  }
  const dir = mkdtempSync(join(tmpdir(), 'brixgate-instructions-'))
  const backend = await startChild(process.execPath, [here('./backend.js')])
  const cfg = join(dir, 'config.json')
  const discovery = { static: { models: [{ name: 'bench', endpoints: [new URL(backend.url).host] }] } }
  writeFileSync(cfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, routing: { defaultStrategy: 'cache-aware' }, discovery }))
  const targets: [string, string[]][] = [
    ['brixgate', [here('../src/cli.js'), '--config', cfg]],
    ...(baselineCli ? [['brixgate, baseline build', [resolve(baselineCli), '--config', cfg]] as [string, string[]]] : []),
    [BARE, [here('./undici-forwarder.js'), backend.url]],
    [CORE, [here('./core-forwarder.js'), backend.url]]
  ]
  const results = new Map<string, Counted>()
  const written: string[] = []
  mkdirSync(outDir, { recursive: true })
  try {
    for (const [name, args] of targets) {
      const prefix = `t${results.size}`
      // --perf-basic-prof: V8 writes where it put each function's code, so its instructions get a name
      const valgrind = ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, prefix)}.%p.out`, process.execPath, '--perf-basic-prof', ...args]
      const target = await startChild('valgrind', valgrind, undefined, 120_000)
      try {
        const counted = await count(target, dir, prefix)
        results.set(name, counted)
        const file = `callgrind.${name.replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '')}.node${process.versions.node.split('.')[0]}.out`
        writeFileSync(join(outDir, file), withJsNames(readFileSync(counted.lastDump, 'utf8'), counted.lastNames))
        written.push(file)
      } finally {
        target.stop()
      }
      console.error(`counted ${name}`)
    }
  } finally {
    backend.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  // the median window: a window a full collection or a late optimization fell in does not move it
  // (the mean, beside it, has them; so does the table by kind of work)
  const typical = (c: Counted) => median(c.windows)
  const mean = (c: Counted) => c.windows.reduce((a, b) => a + b, 0) / c.windows.length
  const bare = typical(results.get(BARE)!)
  const core = typical(results.get(CORE)!)
  console.log(`\nnode ${process.version}; ${execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim()} (callgrind)`)
  console.log(`${WARM_REQUESTS} requests of warm-up, then ${WINDOWS} windows of ${WINDOW_REQUESTS} requests, ${CONNECTIONS} connections; instructions in user space, all threads\n`)
  console.log('| target | instructions per request (median window) | ÷ bare forwarder | ÷ forwarding core | lowest–highest window | mean of windows | compiling per request, left out | windows skipped: V8 still optimizing |')
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  const k = (n: number) => fmt(n / 1000, 1) + 'k'
  for (const [name, c] of results) {
    console.log(`| ${name} | ${k(typical(c))} | ${fmt(typical(c) / bare)} | ${fmt(typical(c) / core)} | ${k(Math.min(...c.windows))}–${k(Math.max(...c.windows))} | ${k(mean(c))} | ${k(c.compiling)} | ${c.skipped} |`)
  }
  const base = results.get('brixgate, baseline build')
  if (base) console.log(`\nthis build ÷ the baseline build: ${fmt(typical(results.get('brixgate')!) / typical(base), 3)} (median windows), ${fmt(mean(results.get('brixgate')!) / mean(base), 3)} (means)`)

  const names = [...results.keys()]
  const byCategory = names.map((n) => {
    const m = new Map<string, number>()
    for (const f of results.get(n)!.byFunction.values()) {
      const kind = categoryOf(f)
      m.set(kind, (m.get(kind) ?? 0) + f.instructions)
    }
    return m
  })
  const categories = [...new Set(byCategory.flatMap((m) => [...m.keys()]))].sort((a, b) => (byCategory[0].get(b) ?? 0) - (byCategory[0].get(a) ?? 0))
  console.log('\ninstructions per request by kind of work, thousands (the mean of the windows kept):\n')
  console.log(`| kind | ${names.join(' | ')} |`)
  console.log(`|---|${names.map(() => '---:').join('|')}|`)
  for (const c of categories) console.log(`| ${c} | ${byCategory.map((m) => fmt((m.get(c) ?? 0) / 1000, 1)).join(' | ')} |`)

  // what the features add, function by function: brixgate's own instructions less the forwarding core's
  const coreFns = results.get(CORE)!.byFunction
  const added = [...results.get('brixgate')!.byFunction]
    .filter(([, f]) => categoryOf(f) !== COMPILING && !/^0x[0-9a-f]+$/.test(f.fn))
    .map(([key, f]) => ({ fn: f.fn, brixgate: f.instructions, core: coreFns.get(key)?.instructions ?? 0 }))
    .sort((a, b) => b.brixgate - b.core - (a.brixgate - a.core))
  console.log('\nwhat brixgate adds over its forwarding core, by function (instructions of its own per request):\n')
  console.log('| function | brixgate | forwarding core | added |')
  console.log('|---|---:|---:|---:|')
  const code = (name: string) => (name.includes('`') ? `\`\` ${name} \`\`` : `\`${name}\``)
  for (const f of added.slice(0, 25)) {
    console.log(`| ${code(f.fn.length > 90 ? f.fn.slice(0, 87) + '...' : f.fn)} | ${fmt(f.brixgate, 0)} | ${fmt(f.core, 0)} | ${fmt(f.brixgate - f.core, 0)} |`)
  }
  console.log(`\ncallgrind files of each target's last window: ${written.join(', ')} in ${outDir}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import autocannon from 'autocannon'

export interface Started {
  url: string
  child: ChildProcess
  stop(): void
}

/** Starts a child process and waits for it to print "listening on <url>". */
export function startChild(command: string, args: string[], urlPattern = /listening on (http:\/\/[^\s"()]+)/, timeoutMs = 15_000): Promise<Started> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start: ${out}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = urlPattern.exec(out)
      if (m) {
        clearTimeout(timer)
        // from here on the child's output (access logs) is read and dropped, as a log shipper would
        child.stdout?.off('data', onData)
        child.stderr?.off('data', onData)
        child.stdout?.resume()
        child.stderr?.resume()
        resolve({ url: m[1], child, stop: () => child.kill('SIGKILL') })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', (code) => reject(new Error(`${command} exited ${code}: ${out}`)))
  })
}

export interface LoadResult {
  rps: number
  /** Requests completed in the run. */
  requests: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

export interface LoadOptions {
  url: string
  body: string | Buffer
  seconds: number
  connections: number
  /** Fixed total request rate; omitted = as fast as possible. */
  rate?: number
}

function which(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** wrk (C, Debian's package) loads the box far less than a Node load generator; autocannon otherwise. */
export const loadGenerator = !process.env.BENCH_AUTOCANNON && which('wrk') ? 'wrk' : 'autocannon'

const ms = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]

async function loadWithWrk(opts: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'brixgate-wrk-'))
  const bodyFile = join(dir, 'body.json')
  writeFileSync(bodyFile, opts.body)
  const script = join(dir, 'post.lua')
  writeFileSync(
    script,
    `local f = io.open(${JSON.stringify(bodyFile)}, "rb")\nwrk.method = "POST"\nwrk.body = f:read("*all")\nf:close()\nwrk.headers["Content-Type"] = "application/json"\n`
  )
  const { stdout } = await promisify(execFile)('wrk', ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '-s', script, opts.url], { maxBuffer: 1 << 20 }).finally(() =>
    rmSync(dir, { recursive: true, force: true })
  )
  const pct = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout)
    return m ? ms(m[1], m[2]) : NaN
  }
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0)
  const errors = (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)?.slice(1) ?? []).reduce((a, b) => a + Number(b), 0)
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN), requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN), p50: pct('50'), p99: pct('99'), errors, non2xx }
}

export async function load(opts: LoadOptions): Promise<LoadResult> {
  if (loadGenerator === 'wrk' && opts.rate === undefined) return loadWithWrk(opts)
  const r = await autocannon({
    url: opts.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: opts.body,
    duration: opts.seconds,
    connections: opts.connections,
    overallRate: opts.rate
  })
  return { rps: r.requests.average, requests: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

/**
 * CPU seconds a process and its direct children (nginx's worker) have used, from /proc (Linux;
 * undefined elsewhere). On a shared, noisy machine CPU per request moves far less than req/s.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    let ticks = 0
    for (const p of [pid, ...children]) {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14 and 15)
    }
    return ticks / 100 // USER_HZ
  } catch {
    return undefined
  }
}

/** The p-quantile (0..1) of `xs` by rank; NaN when empty. */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

export const median = (xs: readonly number[]) => pct(xs, 0.5)

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–')

/**
 * The routing benchmark's load generator: Poisson arrivals of a workload's streaming chat
 * requests against a gateway URL, measured on the client side. It runs in a worker thread
 * (replay-worker.ts), so the gateway under test has the main thread's core to itself.
 */
import { setMaxListeners } from 'node:events'
import { Pool } from 'undici'
import { rng, workloads } from './workloads.js'

export interface ReplayOptions {
  workload: string
  url: string
  rate: number
  seed: number
  /** wall ms = simulated ms × timeScale */
  timeScale: number
  simSeconds: number
  /** Requests that arrive in the first seconds warm the caches up and are not measured. */
  warmupSimSeconds: number
  /** After the last arrival, requests still running are cut after this many simulated seconds. */
  drainSimSeconds: number
}

export interface ReplayResult {
  /** Simulated ms. */
  ttft: number[]
  tpot: number[]
  e2e: number[]
  /** Of the measured requests (those after the warm-up). */
  tokens: number
  ok: number
  sent: number
  elapsedSimSeconds: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  // a fresh workload per run: multi-turn histories must not carry over from another strategy's run
  const w = workloads().find((x) => x.name === o.workload)!
  const pool = new Pool(o.url, { connections: 256 })
  const r = rng(o.seed)
  const out: ReplayResult = { ttft: [], tpot: [], e2e: [], tokens: 0, ok: 0, sent: 0, elapsedSimSeconds: 0 }
  const start = performance.now()
  const deadline = start + (o.simSeconds + o.drainSimSeconds) * 1000 * o.timeScale
  const pending: Promise<void>[] = []
  const controller = new AbortController()
  setMaxListeners(0, controller.signal) // one signal cuts every request of the run at its deadline
  for (let t = 0; ; ) {
    t += (-Math.log(1 - r()) / o.rate) * 1000 // next arrival, simulated ms
    if (t > o.simSeconds * 1000) break
    const wait = start + t * o.timeScale - performance.now()
    if (wait > 0) await sleep(wait)
    const { body, conversation } = w.next(r)
    const measured = t >= o.warmupSimSeconds * 1000
    if (measured) out.sent++
    const sentAt = performance.now()
    pending.push(
      (async () => {
        let first: number | undefined
        let count = 0
        let answer = ''
        try {
          const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: controller.signal })
          if (res.statusCode !== 200) {
            await res.body.dump()
            return
          }
          let buf = ''
          for await (const chunk of res.body) {
            first ??= performance.now()
            buf += (chunk as Buffer).toString()
            let i: number
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const ev = buf.slice(0, i)
              buf = buf.slice(i + 2)
              if (!ev.startsWith('data: {')) continue
              const content = (JSON.parse(ev.slice(6)) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content
              if (content) {
                count++
                answer += content
              }
            }
          }
          const end = performance.now()
          first ??= end
          if (!measured) return
          out.ok++
          out.tokens += count
          out.ttft.push((first - sentAt) / o.timeScale)
          if (count > 1) out.tpot.push((end - first) / (count - 1) / o.timeScale)
          out.e2e.push((end - sentAt) / o.timeScale)
        } catch {
          // cut at the deadline: count its wait so far as a lower bound of its TTFT
          if (measured && first === undefined) out.ttft.push((performance.now() - sentAt) / o.timeScale)
        } finally {
          if (conversation !== undefined) w.answered?.(conversation, answer || 'ok')
        }
      })()
    )
  }
  const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - performance.now()))
  await Promise.all(pending)
  clearTimeout(timer)
  out.elapsedSimSeconds = (performance.now() - start) / o.timeScale / 1000 - o.warmupSimSeconds
  await pool.close()
  return out
}

import type { Config } from './config/schema.js'
import { parseConfig } from './config/load.js'
import { createGateway, type Gateway } from './gateway.js'
import type { Logger } from './observability/logger.js'
import { startSim, type SimServer } from './sim/server.js'

export const DEMO_MODEL = 'llama-3-8b'
export const DEMO_ADAPTER = 'sql-lora'

/** Users the demo's config limits, and its background traffic sends as. */
export const DEMO_USERS = [
  { name: 'alice', rpm: 120, tpm: 40_000 },
  { name: 'bob', rpm: 50, tpm: 12_000 }
]

export interface Demo {
  url: string
  sims: SimServer[]
  gateway: Gateway
  close(): Promise<void>
}

/** Three simulated vLLM pods of different GPU types behind one gateway. */
export async function startDemo(opts: { port: number; host: string; logger: Logger; trafficPerSecond?: number }): Promise<Demo> {
  const sims = await Promise.all(
    ['l4', 'a100', 'h100'].map((gpu) => startSim({ model: DEMO_MODEL, loras: [DEMO_ADAPTER], gpu, timeScale: 0.2, defaultMaxTokens: 32 }))
  )
  const config: Config = parseConfig({
    server: { host: opts.host, port: opts.port },
    discovery: {
      static: {
        models: [
          {
            name: DEMO_MODEL,
            adapters: [DEMO_ADAPTER],
            endpoints: sims.map((s, i) => ({ address: s.address, name: `demo-pod-${['l4', 'a100', 'h100'][i]}`, labels: { gpu: ['l4', 'a100', 'h100'][i] } }))
          }
        ]
      }
    },
    routing: { defaultStrategy: 'cache-aware', explain: true },
    telemetry: { scrapeIntervalMs: 1000 },
    rateLimit: { users: DEMO_USERS }
  }, 'demo')
  const gateway = await createGateway(config, { logger: opts.logger, defaultMetrics: true, configSource: 'demo' })
  const url = await gateway.listen()
  const traffic = opts.trafficPerSecond ? startTraffic(url, opts.trafficPerSecond) : undefined
  return {
    url,
    sims,
    gateway,
    async close() {
      traffic?.stop()
      await gateway.close()
      await Promise.all(sims.map((s) => s.close()))
    }
  }
}

const TOPICS = ['billing', 'shipping', 'returns', 'accounts']

/**
 * A little steady traffic so the status page has something to show: chat requests from the demo's
 * users, streamed and not, in conversations that share a system prompt per topic (the
 * cache-aware strategy keeps each topic on the pod that holds its prefix).
 */
function startTraffic(url: string, perSecond: number): { stop(): void } {
  let n = 0
  const send = () => {
    const i = n++
    const user = DEMO_USERS[i % DEMO_USERS.length].name
    const topic = TOPICS[i % TOPICS.length]
    const stream = i % 3 === 0
    const body = {
      model: i % 5 === 0 ? DEMO_ADAPTER : DEMO_MODEL,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      max_tokens: 16 + (i % 4) * 8,
      messages: [
        { role: 'system', content: `You are the ${topic} assistant of an online shop. `.repeat(20) },
        { role: 'user', content: `Question ${i} about ${topic}` }
      ]
    }
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', user }, body: JSON.stringify(body) })
      .then((res) => res.arrayBuffer())
      .catch(() => undefined) // the page shows failures; the demo keeps going
  }
  const timer = setInterval(send, Math.max(20, 1000 / perSecond))
  timer.unref()
  return { stop: () => clearInterval(timer) }
}

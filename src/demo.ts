import type { Config } from './config/schema.js'
import { parseConfig } from './config/load.js'
import { createGateway, type Gateway } from './gateway.js'
import type { Logger } from './observability/logger.js'
import { startSim, type SimServer } from './sim/server.js'

export const DEMO_MODEL = 'llama-3-8b'
export const DEMO_ADAPTER = 'sql-lora'

export interface Demo {
  url: string
  sims: SimServer[]
  gateway: Gateway
  close(): Promise<void>
}

/** Three simulated vLLM pods of different GPU types behind one gateway. */
export async function startDemo(opts: { port: number; host: string; logger: Logger }): Promise<Demo> {
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
    routing: { defaultStrategy: 'cache-aware', explain: true }, telemetry: { scrapeIntervalMs: 1000 }
  }, 'demo')
  const gateway = await createGateway(config, { logger: opts.logger, defaultMetrics: true })
  const url = await gateway.listen()
  return {
    url,
    sims,
    gateway,
    async close() {
      await gateway.close()
      await Promise.all(sims.map((s) => s.close()))
    }
  }
}

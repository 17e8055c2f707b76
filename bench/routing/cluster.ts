/** Child process of the routing benchmark: starts simulated pods and prints their addresses. */
import { startSim } from '../../src/sim/server.js'

const spec = JSON.parse(process.argv[2]) as { gpus: string[]; kvTokens: number; maxBatch: number; timeScale: number; loras?: string[]; maxLoras?: number }
const sims = await Promise.all(
  spec.gpus.map((gpu) => startSim({ model: 'm', gpu, kvTokens: spec.kvTokens, maxBatch: spec.maxBatch, timeScale: spec.timeScale, maxModelLen: 32_768, loras: spec.loras, maxLoras: spec.maxLoras }))
)
console.log(`CLUSTER ${JSON.stringify(sims.map((s) => s.address))}`)
process.on('SIGTERM', () => process.exit(0))

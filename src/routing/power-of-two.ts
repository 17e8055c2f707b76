import type { Strategy } from './strategy.js'

/** Two pods at random, the one with fewer in-flight requests wins (Mitzenmacher's power of two choices). */
export const powerOfTwoStrategy: Strategy = {
  name: 'power-of-two',
  pick({ pods, stats, random }) {
    const a = pods[Math.floor(random() * pods.length)]
    if (pods.length === 1) return { pod: a, reason: 'power-of-two single pod' }
    let b = pods[Math.floor(random() * (pods.length - 1))]
    if (b === a) b = pods[pods.length - 1]
    const pod = stats.inflight(b) < stats.inflight(a) ? b : a
    return { pod, reason: `power-of-two inflight=${stats.inflight(pod)} vs ${stats.inflight(pod === a ? b : a)}` }
  }
}

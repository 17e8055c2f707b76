import { GatewayError } from '../errors/catalogue.js'
import { bestIndex, type Strategy } from './strategy.js'

export interface MixPart {
  strategy: Strategy
  weight: number
}

/** "least-request:2,least-kv-cache:1" → parts; names must resolve and be scoring strategies. */
export function parseMix(spec: string, lookup: (name: string) => Strategy | undefined): MixPart[] {
  const parts: MixPart[] = []
  for (const entry of spec.split(',').map((s) => s.trim())) {
    const [name, weightText, extra] = entry.split(':').map((s) => s.trim())
    const weight = weightText === undefined ? 1 : Number(weightText)
    const strategy = name ? lookup(name) : undefined
    if (!strategy) throw new GatewayError('invalid_strategy', `unknown strategy "${name.slice(0, 100)}" in the mix "${spec.slice(0, 200)}"`)
    if (extra !== undefined || !Number.isFinite(weight) || weight <= 0) {
      throw new GatewayError('invalid_strategy', `"${entry.slice(0, 100)}" in the mix "${spec.slice(0, 200)}": expected name:weight with a positive weight`)
    }
    if (!strategy.score || !strategy.better) throw new GatewayError('invalid_strategy', `"${name}" is a known strategy but cannot be mixed: it picks a pod without scoring every pod`)
    parts.push({ strategy, weight })
  }
  return parts
}

/**
 * AIBrix's weighted mix: each strategy's per-pod scores are min-max normalised to 0..1, the
 * "lower is better" ones inverted, weighted and summed; the highest total wins.
 */
export function mixStrategy(spec: string, parts: readonly MixPart[]): Strategy {
  const score: NonNullable<Strategy['score']> = (input) => {
    const total = input.pods.map(() => 0)
    for (const { strategy, weight } of parts) {
      const s = strategy.score!(input)
      const min = Math.min(...s)
      const max = Math.max(...s)
      for (let i = 0; i < s.length; i++) {
        const norm = max === min ? 1 : (s[i] - min) / (max - min)
        total[i] += weight * (strategy.better === 'low' ? 1 - norm : norm)
      }
    }
    return total
  }
  return {
    name: spec,
    better: 'high',
    score,
    pick(input) {
      const totals = score(input)
      const best = bestIndex(totals, 'high', input.random)
      return best === undefined ? undefined : { pod: input.pods[best], reason: `mix ${spec} score=${totals[best].toFixed(2)}` }
    },
    // a mix learns like its parts: a prefix strategy in it indexes the pod the mix chose
    accepted(input, pod) {
      for (const { strategy } of parts) strategy.accepted?.(input, pod)
    },
    retracted(input, pod) {
      for (const { strategy } of parts) strategy.retracted?.(input, pod)
    },
    completed(c) {
      for (const { strategy } of parts) strategy.completed?.(c)
    }
  }
}

import type { Strategy } from './strategy.js'

const DECAY_AT = 1_000_000

/**
 * Virtual-token-counter fairness: each user's tokens are counted per pod; a user's next request
 * goes where that user has consumed least, weighed against the pod's load, so heavy users are
 * spread out and cannot crowd one pod. Counts halve when a user passes a million tokens.
 */
export function vtcBasicStrategy(): Strategy {
  const served = new Map<string, Map<string, number>>()
  return {
    name: 'vtc-basic',
    better: 'low',
    score({ request, pods, stats }) {
      const mine = served.get(request.user ?? '') ?? new Map<string, number>()
      let total = 0
      for (const v of mine.values()) total += v
      const maxLoad = Math.max(1, ...pods.map((p) => stats.inflight(p)))
      return pods.map((p) => (mine.get(p.id) ?? 0) / (total + 1) + stats.inflight(p) / maxLoad)
    },
    pick(input) {
      const scores = this.score!(input)
      let i = 0
      for (let j = 1; j < scores.length; j++) if (scores[j] < scores[i]) i = j
      return { pod: input.pods[i], reason: `vtc-basic user=${input.request.user ?? '-'} score=${scores[i].toFixed(2)}` }
    },
    completed({ pod, user, promptTokens, completionTokens }) {
      const key = user ?? ''
      let mine = served.get(key)
      if (!mine) served.set(key, (mine = new Map()))
      mine.set(pod.id, (mine.get(pod.id) ?? 0) + promptTokens + completionTokens)
      let total = 0
      for (const v of mine.values()) total += v
      if (total > DECAY_AT) for (const [k, v] of mine) mine.set(k, v / 2)
    }
  }
}

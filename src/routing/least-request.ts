import type { Strategy } from './strategy.js'

/** Fewest gateway in-flight requests; ties broken at random so equal pods share load. */
export const leastRequestStrategy: Strategy = {
  name: 'least-request',
  pick({ pods, stats, random }) {
    let best = Infinity
    let ties: typeof pods[number][] = []
    for (const pod of pods) {
      const n = stats.inflight(pod)
      if (n < best) {
        best = n
        ties = [pod]
      } else if (n === best) ties.push(pod)
    }
    const pod = ties[Math.floor(random() * ties.length)]
    return pod && { pod, reason: `least-request inflight=${best}` }
  }
}

import { scoring } from './strategy.js'

/** Fewest gateway in-flight requests (exact, local). */
export const leastRequestStrategy = scoring('least-request', 'low', ({ pods, stats }) => pods.map((p) => stats.inflight(p)), (n) => `inflight=${n}`)

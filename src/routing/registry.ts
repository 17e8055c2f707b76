import type { Config } from '../config/schema.js'
import { GatewayError } from '../errors/catalogue.js'
import { leastRequestStrategy } from './least-request.js'
import { leastBusyTimeStrategy, leastGpuCacheStrategy, leastKvCacheStrategy, leastLatencyStrategy, throughputStrategy } from './load-strategies.js'
import { mixStrategy, parseMix } from './mix.js'
import { powerOfTwoStrategy } from './power-of-two.js'
import { cacheAwareStrategy, prefixCacheStrategy } from './prefix-cache.js'
import { randomStrategy } from './random.js'
import { sessionAffinityStrategy } from './session-affinity.js'
import type { Strategy } from './strategy.js'
import type { PrefixShare } from '../sharing/shared-routing.js'
import { vtcBasicStrategy } from './vtc-basic.js'

/** Every strategy the gateway knows, by its AIBrix name (plus cache-aware). One module each; `share` spreads the prefix strategies' learning over the replicas. */
export function builtinStrategies(routing: Config['routing'], share?: PrefixShare): Strategy[] {
  return [
    randomStrategy,
    leastRequestStrategy,
    throughputStrategy,
    leastKvCacheStrategy,
    leastGpuCacheStrategy,
    leastLatencyStrategy,
    leastBusyTimeStrategy,
    sessionAffinityStrategy,
    prefixCacheStrategy(routing.prefixCache, share),
    vtcBasicStrategy(),
    powerOfTwoStrategy,
    cacheAwareStrategy(routing.prefixCache, share)
  ]
}

export class StrategyRegistry {
  private readonly byName = new Map<string, Strategy>()
  private readonly mixes = new Map<string, Strategy>()

  constructor(strategies: readonly Strategy[]) {
    for (const s of strategies) this.byName.set(s.name, s)
  }

  names(): string[] {
    return [...this.byName.keys()]
  }

  /** A name, or a weighted mix "a:2,b:1"; unknown names are the client's error (400). */
  resolve(spec: string): Strategy {
    const name = spec.trim()
    const s = this.byName.get(name)
    if (s) return s
    if (name.includes(':') || name.includes(',')) {
      let mix = this.mixes.get(name)
      if (!mix) {
        mix = mixStrategy(name, parseMix(name, (n) => this.byName.get(n)))
        if (this.mixes.size < 1000) this.mixes.set(name, mix)
      }
      return mix
    }
    throw new GatewayError('invalid_strategy', `unknown strategy "${spec.slice(0, 100)}" (known: ${this.names().join(', ')}; weighted mixes of scoring strategies: "least-request:2,least-kv-cache:1")`)
  }
}

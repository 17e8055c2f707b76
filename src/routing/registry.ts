import { GatewayError } from '../errors/catalogue.js'
import { leastRequestStrategy } from './least-request.js'
import { randomStrategy } from './random.js'
import type { Strategy } from './strategy.js'

/** Every strategy the gateway knows, by its AIBrix name. Adding one = one module + one line here. */
export const builtinStrategies: readonly Strategy[] = [randomStrategy, leastRequestStrategy]

export class StrategyRegistry {
  private readonly byName = new Map<string, Strategy>()

  constructor(strategies: readonly Strategy[] = builtinStrategies) {
    for (const s of strategies) this.byName.set(s.name, s)
  }

  names(): string[] {
    return [...this.byName.keys()]
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  /** Resolves a header value or the default; unknown names are the client's error (400). */
  resolve(name: string): Strategy {
    const s = this.byName.get(name.trim())
    if (!s) throw new GatewayError('invalid_strategy', `${name} (known: ${this.names().join(', ')})`)
    return s
  }
}

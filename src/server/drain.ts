/** Responses still being written; graceful shutdown waits until none is left. */
export class ResponseDrain {
  private open = 0
  private readonly waiters: (() => void)[] = []

  opened(): void {
    this.open++
  }

  closed(): void {
    if (--this.open === 0) for (const resolve of this.waiters.splice(0)) resolve()
  }

  get size(): number {
    return this.open
  }

  /** Resolves once no response is open. */
  idle(): Promise<void> {
    return this.open === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve))
  }
}

/**
 * "Stop": raised once, when the client goes away or the gateway cuts an attempt; listeners added
 * before then run once when it is raised. A request makes two (its own and its attempt's), so this
 * is a flag and a short list: an AbortController or an EventEmitter (with a wrapper per `once`)
 * costs several times as much. The `once`/`off` signature is EventEmitter's.
 */
export class AbortFlag {
  aborted = false
  private listeners: (() => void)[] | undefined

  /** `listener` runs when the flag is raised (never, if it already was). */
  once(_event: 'abort', listener: () => void): void {
    if (!this.aborted) (this.listeners ??= []).push(listener)
  }

  off(_event: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1
    if (i >= 0) this.listeners!.splice(i, 1)
  }

  /** Listeners still waiting (tests check none is left behind). */
  listenerCount(_event: 'abort'): number {
    return this.listeners?.length ?? 0
  }

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners) for (const listener of listeners) listener()
  }
}

import TinyQueue from 'tinyqueue'

/** Where a simulated engine's time comes from when it is not the wall clock. */
export interface SimClock {
  /** Current time, ms. */
  now(): number
  /** Runs `fn` once `ms` of this clock's time have passed. */
  after(ms: number, fn: () => void): void
}

interface Event {
  at: number
  /** Insertion order: events due at the same time run first in, first out. */
  seq: number
  fn: () => void
}

/**
 * A discrete-event clock: time jumps from one scheduled event to the next, so an in-process
 * simulation covers minutes of traffic in seconds and gives the same result on every run,
 * however busy the machine is.
 */
export class VirtualClock implements SimClock {
  private time = 0
  private seq = 0
  private readonly queue = new TinyQueue<Event>([], (a, b) => a.at - b.at || a.seq - b.seq)

  now(): number {
    return this.time
  }

  after(ms: number, fn: () => void): void {
    this.queue.push({ at: this.time + Math.max(0, ms), seq: this.seq++, fn })
  }

  /**
   * Runs the events due up to `until` in time order, then sets the time to `until` (unless it
   * is Infinity). Promise callbacks an event starts (async work it awaits) settle before the
   * next event runs, as they would well within one simulated instant.
   */
  async run(until = Infinity): Promise<void> {
    for (let next = this.queue.peek(); next !== undefined && next.at <= until; next = this.queue.peek()) {
      this.queue.pop()
      this.time = next.at
      next.fn()
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    if (until !== Infinity) this.time = Math.max(this.time, until)
  }
}

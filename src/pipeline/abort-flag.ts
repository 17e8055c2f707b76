import { EventEmitter } from 'node:events'

/**
 * "The client went away". A plain emitter costs far less per request than an AbortController,
 * and undici accepts any emitter with `aborted` and an 'abort' event as a request signal.
 */
export class AbortFlag extends EventEmitter {
  aborted = false

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.emit('abort')
  }
}

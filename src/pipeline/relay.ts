import { GatewayError } from '../errors/catalogue.js'
import type { Usage } from '../proxy/sse-relay.js'
import { isAbort, isTimeout } from '../proxy/upstream-failure.js'
import type { StreamAttempt } from './attempt.js'

const KEEP_ALIVE = Buffer.from(': keep-alive\n\n')

/** How a relayed stream ended. */
export interface RelayOutcome {
  usage?: Usage
  /** The pod's stream broke or the gateway cut it (an error event ended it). */
  failed: boolean
  /** The client went away. */
  aborted: boolean
  /** When the first body byte came from the pod, if it did after the commit point. */
  firstByteAt?: number
}

export interface RelayOptions {
  podName: string
  keepAliveMs: number
  /** A broken stream ends with a named, typed `error` event (Anthropic, Responses API). */
  typedErrors: boolean
  /** Why the gateway itself stops the stream (shutdown), read when the upstream signal is raised. */
  cutReason: () => GatewayError | undefined
  clientAborted: () => boolean
  onFirstByte(): void
  onProgress(): void
  onEnd(outcome: RelayOutcome): void
}

/**
 * The relay step: the client's bytes of a committed stream, read from the pod as the client
 * takes them (an async generator behind a Readable pulls only when the socket drains). A stream
 * that breaks or is cut ends with one error event; `onEnd` runs once, however it ends.
 */
export async function* relay(s: StreamAttempt, opts: RelayOptions): AsyncGenerator<Buffer> {
  const outcome: RelayOutcome = { failed: false, aborted: false }
  let ended = false
  try {
    for (const b of s.head) yield b
    let pending = s.pending
    // committed by a keep-alive: its first comment line, then one per interval until the first event
    if (pending) yield KEEP_ALIVE
    while (s.relay.events === 0 && pending) {
      let timer: NodeJS.Timeout | undefined
      const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), opts.keepAliveMs)))
      const next = await Promise.race([pending, tick]).finally(() => clearTimeout(timer))
      if (next === 'tick') {
        yield KEEP_ALIVE
        continue
      }
      if (next.done) {
        pending = undefined
        break
      }
      opts.onFirstByte()
      opts.onProgress()
      for (const b of s.relay.push(next.value)) yield b
      // a chunk without a whole event yet: keep the comments coming until the first one
      pending = s.relay.events === 0 ? s.rest.next() : undefined
    }
    for (;;) {
      const next = await (pending ?? s.rest.next())
      pending = undefined
      if (next.done) break
      opts.onProgress()
      for (const b of s.relay.push(next.value)) yield b
    }
    ended = true
    for (const b of s.relay.end()) yield b
  } catch (err) {
    if (opts.clientAborted() || (isAbort(err) && !opts.cutReason())) {
      outcome.aborted = opts.clientAborted()
      outcome.failed = !outcome.aborted
      return
    }
    outcome.failed = true
    const cut = opts.cutReason() ?? new GatewayError('stream_cut', `${opts.podName} (${isTimeout(err) ? 'idle timeout' : ((err as { code?: string }).code ?? 'connection lost')})`)
    for (const b of s.relay.end()) yield b
    yield cut.sseEvent(opts.typedErrors)
  } finally {
    if (!ended) s.body.destroy()
    outcome.usage = s.relay.usage
    // left early without an error: the consumer stopped reading, i.e. the client went away
    if (opts.clientAborted() || (!ended && !outcome.failed)) outcome.aborted = true
    opts.onEnd(outcome)
  }
}

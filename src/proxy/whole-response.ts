import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import { errors, type Dispatcher } from 'undici'
import { podResponseHeaders } from './headers.js'
import type { AbortFlag } from '../pipeline/abort-flag.js'
import { performance } from 'node:perf_hooks'

/** A pod's whole answer: status, headers and every body byte. */
export interface WholeResponse {
  statusCode: number
  /** The pod's headers a client may get (podResponseHeaders: no hop-by-hop, framing, date or server). */
  headers: IncomingHttpHeaders
  body: Buffer
}

/** A pod's answer whose body is read as it comes. */
export interface StreamedResponse {
  statusCode: number
  /** As WholeResponse's. */
  headers: IncomingHttpHeaders
  body: Readable
}

export interface DispatchHooks {
  /** The pod's status and headers arrived. */
  onHeaders(): void
  /** The whole request was written to the pod's socket (performance.now()). */
  onWritten(at: number): void
}

/**
 * undici's core callbacks (onConnect … onComplete), which its dispatcher calls directly: the newer
 * onRequestStart/onResponse* form costs an adapter and a controller object per request, and only
 * the core form is told when the request was written (onRequestSent), which server-timing's
 * `connect` entry needs. (undici 7 marks the core form deprecated in its types, not in behaviour.)
 */
type CoreHandler = Required<Pick<Dispatcher.DispatchHandler, 'onConnect' | 'onHeaders' | 'onData' | 'onComplete' | 'onError'>> & { onRequestSent(): void }

/**
 * The abort wiring both readers share: `signal` raised (or abort() called) → the upstream request
 * is aborted, once undici has handed over its abort function (onConnect). One object: the whole
 * reader, made for every request, is one itself.
 */
class UpstreamAbort {
  private abortUpstream: ((err: Error) => void) | undefined
  private readonly onSignal = () => this.abort()

  constructor(private readonly signal: AbortFlag) {
    signal.once('abort', this.onSignal)
  }

  onConnect(abort: (err: Error) => void): void {
    this.abortUpstream = abort
    if (this.signal.aborted) this.abort()
  }

  abort(err: Error = new errors.RequestAbortedError()): void {
    this.abortUpstream?.(err)
  }

  /** The request ended: the signal no longer concerns it. */
  done(): void {
    this.signal.off('abort', this.onSignal)
  }
}

/**
 * Sends a request and reads the whole answer straight from undici's dispatch callbacks. undici's
 * `request()` wraps every answer in a body stream that is then consumed into one buffer: for an
 * answer read whole anyway that was about 15 % of a request's CPU (A/B under load). Rejects with
 * undici's own errors (timeouts, resets) and with an abort error once `signal` is raised.
 */
export function requestWhole(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, signal: AbortFlag, hooks: DispatchHooks): Promise<WholeResponse> {
  return new Promise((resolve, reject) => dispatch(dispatcher, opts, new WholeReader(signal, hooks, resolve, reject)))
}

/**
 * The dispatch handler of one whole answer: its state and undici's callbacks on one object (made
 * for every request, so one object rather than a closure per callback).
 */
class WholeReader extends UpstreamAbort implements CoreHandler {
  private statusCode = 0
  private headers: IncomingHttpHeaders = {}
  private readonly chunks: Buffer[] = []
  private size = 0

  constructor(
    signal: AbortFlag,
    private readonly hooks: DispatchHooks,
    private readonly resolve: (res: WholeResponse) => void,
    private readonly reject: (err: Error) => void
  ) {
    super(signal)
  }

  onRequestSent(): void {
    this.hooks.onWritten(performance.now())
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true // 1xx informational: the answer follows
    this.statusCode = status
    this.headers = podResponseHeaders(rawHeaders)
    this.hooks.onHeaders()
    return true
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk)
    this.size += chunk.length
    return true
  }

  onComplete(): void {
    this.done()
    // undici's chunks are views of socket reads that are never reused: one chunk is the body as it is
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size)
    this.resolve({ statusCode: this.statusCode, headers: this.headers, body })
  }

  onError(err: Error): void {
    this.done()
    this.reject(err)
  }
}

/**
 * Sends a request and resolves at the pod's headers with a body stream that pulls from the socket
 * as it is read (undici's parser pauses while the stream is full, as `request()`'s does).
 * Destroying the body aborts the upstream request; a failure after the headers destroys the body
 * with undici's error.
 */
export function requestStreamed(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, signal: AbortFlag, hooks: DispatchHooks): Promise<StreamedResponse> {
  return new Promise((resolve, reject) => {
    let body: Readable | undefined
    let ended = false
    const wiring = new UpstreamAbort(signal)
    const handler: CoreHandler = {
      onConnect: (abort) => wiring.onConnect(abort),
      onRequestSent: () => hooks.onWritten(performance.now()),
      onHeaders(status, rawHeaders, resume) {
        if (status < 200) return true
        body = new Readable({
          read: () => resume(),
          destroy(err, cb) {
            if (!ended) wiring.abort(err ?? undefined)
            cb(err)
          }
        })
        hooks.onHeaders()
        resolve({ statusCode: status, headers: podResponseHeaders(rawHeaders), body })
        return true
      },
      onData: (chunk) => body!.push(chunk),
      onComplete() {
        ended = true
        wiring.done()
        body!.push(null)
      },
      onError(err) {
        ended = true
        wiring.done()
        if (body) body.destroy(err)
        else reject(err)
      }
    }
    dispatch(dispatcher, opts, handler)
  })
}

function dispatch(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, handler: CoreHandler): void {
  try {
    dispatcher.dispatch(opts, handler)
  } catch (err) {
    handler.onError(err as Error)
  }
}

/** A body stream's bytes, whole. */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks = (await body.toArray()) as Buffer[]
  return Buffer.concat(chunks)
}

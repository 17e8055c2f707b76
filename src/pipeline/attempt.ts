import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { Pod } from '../discovery/pod.js'
import type { GatewayError } from '../errors/catalogue.js'
import type { UpstreamPools } from '../proxy/pools.js'
import { readAll, requestStreamed, requestWhole, type StreamedResponse, type WholeResponse } from '../proxy/whole-response.js'
import { SseRelay } from '../proxy/sse-relay.js'
import { failureCause, isAbort, isHeadersTimeout, upstreamFailure, type FailureCause } from '../proxy/upstream-failure.js'
import { AbortFlag } from './abort-flag.js'
import type { UsageFormat } from './endpoints.js'

/** The request as it goes to every pod tried: the same bytes each time. */
export interface UpstreamRequest {
  path: string
  headers: Record<string, string>
  body: Buffer
  stream: boolean
  /** The gateway added include_usage: the relay strips the usage it asked for. */
  injectedUsage: boolean
  /** How the answer reports its usage. */
  usage: UsageFormat
  headersTimeout: number
  bodyTimeout: number
  /** No first real answer by then → the attempt fails with first_byte_timeout (0 = off). */
  firstByteTimeoutMs: number
  /** Streams: commit with SSE comment lines after this long without a first event (0 = off). */
  keepAliveMs: number
}

/** A stream whose first real event arrived (or whose keep-alive committed it): the rest follows. */
export interface StreamAttempt {
  kind: 'stream'
  headers: IncomingHttpHeaders
  relay: SseRelay
  /** Bytes for the client read up to the commit point. */
  head: Buffer[]
  /** The rest of the pod's body; a read still pending when the keep-alive committed. */
  body: Readable
  rest: AsyncIterator<Buffer>
  pending?: Promise<IteratorResult<Buffer>>
  /** The upstream signal: raised to stop the relay (client gone, shutdown). */
  signal: AbortFlag
}

/** A whole non-stream answer (any status), or an SSE status other than 200 read whole. */
export interface BufferedAttempt {
  kind: 'buffered'
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface FailedAttempt {
  kind: 'failed'
  cause: FailureCause
  error: GatewayError
}

export type AttemptResult = StreamAttempt | BufferedAttempt | FailedAttempt

export interface AttemptHooks {
  /** Response headers came back from the pod. */
  onHeaders(): void
  /** Bytes of the answer came from the pod (hung-pod detection). */
  onProgress(): void
  /** The request was written to the pod's socket (performance.now()). */
  onWritten(at: number): void
}

const isSse = (res: { statusCode: number; headers: IncomingHttpHeaders }) => res.statusCode === 200 && String(res.headers['content-type'] ?? '').includes('text/event-stream')

/**
 * The forward step for one pod: sends the request and reads up to the commit point — a whole
 * non-stream body, or a stream's first real event. Nothing is written to the client here, so a
 * failure before that point can still go to another pod. Rejects only when the client went away.
 */
export function attempt(pools: UpstreamPools, pod: Pod, req: UpstreamRequest, client: AbortFlag, hooks: AttemptHooks): Promise<AttemptResult> {
  // A non-stream answer's first byte is its headers: a deadline of a second or more rides on
  // undici's header timer, which every request arms anyway (to within its 1 s resolution), instead
  // of a timer of our own per attempt (2-4 % less CPU per request at equal load, two A/Bs). Streams
  // (the first event comes after the headers) and shorter deadlines keep a precise timer.
  const onHeaderTimer = !req.stream && req.firstByteTimeoutMs >= 1000 && req.firstByteTimeoutMs < req.headersTimeout
  if (!req.stream && (onHeaderTimer || req.firstByteTimeoutMs <= 0)) return attemptWhole(pools, pod, req, client, hooks, onHeaderTimer)
  return attemptWithTimer(pools, pod, req, client, hooks)
}

/** An answer read whole, as the attempt's result. */
const buffered = (res: { statusCode: number; headers: IncomingHttpHeaders }, body: Buffer): BufferedAttempt => ({ kind: 'buffered', status: res.statusCode, headers: res.headers, body })

/** A whole answer a pod sent as SSE though nobody asked to stream: read on as a stream, like any other. */
const replayed = (whole: WholeResponse): StreamedResponse => ({ statusCode: whole.statusCode, headers: whole.headers, body: Readable.from([whole.body], { objectMode: false }) })

/** The options undici is given for one attempt. */
function dispatchOptions(req: UpstreamRequest, headersTimeout: number) {
  return { method: 'POST' as const, path: req.path, headers: req.headers, body: req.body, headersTimeout, bodyTimeout: req.bodyTimeout }
}

/**
 * A non-stream attempt with no timer of its own (the common case): the whole answer, read on the
 * client's own abort flag — nothing else can stop it — with no async frame or closures of its own.
 */
function attemptWhole(pools: UpstreamPools, pod: Pod, req: UpstreamRequest, client: AbortFlag, hooks: AttemptHooks, onHeaderTimer: boolean): Promise<AttemptResult> {
  const headersTimeout = onHeaderTimer ? req.firstByteTimeoutMs : req.headersTimeout
  return requestWhole(pools.get(pod.address), dispatchOptions(req, headersTimeout), client, hooks).then(
    (whole): AttemptResult | Promise<AttemptResult> => {
      hooks.onProgress()
      if (!isSse(whole)) return buffered(whole, whole.body)
      // relayed as a stream, with a stop flag of its own
      const signal = new AbortFlag()
      const onClientAbort = () => signal.abort()
      client.once('abort', onClientAbort)
      // once committed, the client's abort is wired to the relay by the caller; before, it is ours
      return streamHead(replayed(whole), pod, req, client, signal, hooks, () => false).then(
        (result) => {
          if (result.kind !== 'stream') client.off('abort', onClientAbort)
          return result
        },
        (err: unknown) => {
          client.off('abort', onClientAbort)
          throw err
        }
      )
    },
    (err) => failedAttempt(err, pod, req, client, onHeaderTimer && isHeadersTimeout(err))
  )
}

/** A failed attempt's cause; a client that went away (or an abort) rethrows instead. */
function failedAttempt(err: unknown, pod: Pod, req: UpstreamRequest, client: AbortFlag, deadlineHit: boolean): FailedAttempt {
  if (client.aborted) throw err
  if (deadlineHit) {
    return { kind: 'failed', cause: 'first_byte_timeout', error: upstreamFailure({ code: 'UND_ERR_HEADERS_TIMEOUT' }, `${pod.name} (no first byte within ${req.firstByteTimeoutMs} ms)`) }
  }
  if (isAbort(err)) throw err
  return { kind: 'failed', cause: failureCause(err), error: upstreamFailure(err, pod.name) }
}

/** Streams, and non-stream answers with a first-byte deadline under a second: a precise timer of their own. */
async function attemptWithTimer(pools: UpstreamPools, pod: Pod, req: UpstreamRequest, client: AbortFlag, hooks: AttemptHooks): Promise<AttemptResult> {
  const signal = new AbortFlag()
  const onClientAbort = () => signal.abort()
  client.once('abort', onClientAbort)
  let deadlineHit = false
  const deadline =
    req.firstByteTimeoutMs > 0
      ? setTimeout(() => {
          deadlineHit = true
          signal.abort()
        }, req.firstByteTimeoutMs)
      : undefined
  let committed = false
  const opts = dispatchOptions(req, req.headersTimeout)
  try {
    let res: StreamedResponse
    try {
      if (req.stream) res = await requestStreamed(pools.get(pod.address), opts, signal, hooks)
      else {
        const whole = await requestWhole(pools.get(pod.address), opts, signal, hooks)
        hooks.onProgress()
        if (!isSse(whole)) {
          committed = true
          return buffered(whole, whole.body)
        }
        res = replayed(whole)
      }
    } catch (err) {
      return failedAttempt(err, pod, req, client, deadlineHit)
    }
    const result = await streamHead(res, pod, req, client, signal, hooks, () => deadlineHit)
    committed = result.kind === 'stream'
    return result
  } finally {
    clearTimeout(deadline)
    // once committed, the client's abort is wired to the relay by the caller; before, it is ours
    if (!committed) client.off('abort', onClientAbort)
  }
}

/**
 * Reads a response up to the commit point: a non-SSE answer whole, or an SSE stream to its first
 * real event (or to its keep-alive). `signal` is the attempt's stop flag, handed on with a stream;
 * `timedOut` says whether the attempt's first-byte timer raised it.
 */
async function streamHead(res: StreamedResponse, pod: Pod, req: UpstreamRequest, client: AbortFlag, signal: AbortFlag, hooks: AttemptHooks, timedOut: () => boolean): Promise<AttemptResult> {
  if (!isSse(res)) {
    try {
      const body = await readAll(res.body)
      hooks.onProgress()
      return buffered(res, body)
    } catch (err) {
      return failedAttempt(err, pod, req, client, timedOut())
    }
  }
  const relay = new SseRelay(req.injectedUsage, req.usage)
  const rest = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  const head: Buffer[] = []
  try {
    let pending: Promise<IteratorResult<Buffer>> | undefined
    while (relay.events === 0) {
      pending ??= rest.next()
      const next = await withKeepAlive(pending, req.keepAliveMs)
      if (next === 'keep-alive') return { kind: 'stream', headers: res.headers, relay, head, body: res.body, rest, pending, signal }
      pending = undefined
      if (next.done) {
        head.push(...relay.end())
        if (relay.events > 0) break
        res.body.destroy()
        return { kind: 'failed', cause: 'empty_stream', error: upstreamFailure({ code: 'UND_ERR_SOCKET' }, `${pod.name} (stream ended before its first event)`) }
      }
      hooks.onProgress()
      head.push(...relay.push(next.value))
    }
  } catch (err) {
    res.body.destroy()
    return failedAttempt(err, pod, req, client, timedOut())
  }
  return { kind: 'stream', headers: res.headers, relay, head, body: res.body, rest, signal }
}

/** The next chunk, or 'keep-alive' when none came within `ms` (0 = wait as long as it takes). */
function withKeepAlive(next: Promise<IteratorResult<Buffer>>, ms: number): Promise<IteratorResult<Buffer> | 'keep-alive'> {
  if (ms <= 0) return next
  let timer: NodeJS.Timeout | undefined
  const tick = new Promise<'keep-alive'>((resolve) => (timer = setTimeout(() => resolve('keep-alive'), ms)))
  return Promise.race([next, tick]).finally(() => clearTimeout(timer))
}

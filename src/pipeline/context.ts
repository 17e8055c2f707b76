import type { IncomingHttpHeaders } from 'node:http'
import type { Pod } from '../discovery/pod.js'
import type { Admission } from '../limits/limiter.js'
import type { Grant } from '../admission/queue.js'
import type { RoutingRequest, Strategy } from '../routing/strategy.js'
import type { LoadTicket } from '../telemetry/pod-load.js'
import type { RequestTrace } from '../observability/tracing.js'
import { AbortFlag } from './abort-flag.js'
import type { Endpoint, ParsedRequest } from './parse.js'
import { requestIdFrom } from './request-id.js'
import { performance } from 'node:perf_hooks'

/** What the HTTP edge hands the pipeline: the route, the client's headers and body bytes. */
export interface InboundRequest {
  endpoint: Endpoint
  headers: IncomingHttpHeaders
  body: Buffer
}

/** What the edge writes back: status, headers and a complete body or a stream of bytes. */
export interface PipelineResponse {
  status: number
  headers: Record<string, string | string[]>
  body: Buffer | NodeJS.ReadableStream
}

/** Milliseconds since the request arrived, at each step (undefined: the step was not reached). */
export interface Timings {
  admitted?: number
  routed?: number
  sent?: number
  /** The pod's response headers arrived (last attempt). */
  upstreamHeaders?: number
  /** The commit point: the pod's first real answer (last attempt). */
  committed?: number
  /** A stream's first byte went to the client. */
  firstByte?: number
  /** The last attempt's request was written to the pod's socket (after pool wait and connect). */
  upstreamWritten?: number
  /** Time spent in attempts that failed over to another pod (the pods' time, not the gateway's). */
  failoverMs: number
  /** Time spent waiting in the admission queue for a free slot (the pods' fullness, not the gateway's work). */
  queuedMs: number
}

const NONE_TRIED: ReadonlySet<string> = new Set()

/**
 * Everything one request carries along the pipeline, created once when it arrives. Steps fill
 * it in order (identify → parse → admit → route → forward → relay → settle); `finished` makes
 * the settle step run exactly once whatever way the request ends.
 */
export class RequestContext {
  readonly id: string
  readonly started = performance.now()
  /** Raised when the client goes away. */
  readonly abort = new AbortFlag()
  /** Response headers gathered on the way (request-id, strategy, pod, limits...). */
  readonly headers: Record<string, string | string[]>
  readonly timings: Timings = { failoverMs: 0, queuedMs: 0 }
  user?: string
  strategy?: Strategy
  parsed?: ParsedRequest
  /** Set once the model is known to exist (keeps metric labels bounded). */
  model?: string
  admission?: Admission
  /** Leave from the admission queue to use a pod slot (admission on). */
  grant?: Grant
  routing?: RoutingRequest
  /** The pod of the current (or last) attempt and its load ticket. */
  pod?: Pod
  /** The pod holding the request's Responses conversation (previous_response_id), if known. */
  pinned?: string
  /** Why the strategy chose the pod (its explanation). */
  reason?: string
  ticket?: LoadTicket
  /** Pods tried so far (ids), other pods tried before the answer, resets seen. */
  tried: ReadonlySet<string> = NONE_TRIED
  retries = 0
  resets = 0
  tokens?: number
  /** Prompt and completion tokens from the answer's usage (traces). */
  usage?: { promptTokens: number; completionTokens: number }
  /** The request's trace spans, when tracing is on. */
  trace?: RequestTrace
  /** The catalogue kind the request failed with, if it did. */
  errorKind?: string
  status = 0
  /** Limits settled (once), and the request finished: in-flight released, metrics recorded (once). */
  settled = false
  finished = false

  constructor(readonly endpoint: Endpoint, readonly requestHeaders: IncomingHttpHeaders) {
    this.id = requestIdFrom(requestHeaders['x-request-id'])
    this.headers = { 'request-id': this.id, 'x-went-into-req-headers': 'true' }
  }

  /** A pod this request was sent to failed it (the set is made on the first: most requests never need one). */
  markTried(podId: string): void {
    const tried = this.tried === NONE_TRIED ? new Set<string>() : (this.tried as Set<string>)
    tried.add(podId)
    this.tried = tried
  }

  /** Milliseconds since the request arrived. */
  elapsed(): number {
    return performance.now() - this.started
  }

  get stream(): boolean {
    return this.parsed?.stream === true
  }
}

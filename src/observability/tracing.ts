import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base'
import type { IncomingHttpHeaders } from 'node:http'
import type { Config } from '../config/schema.js'

const propagator = new W3CTraceContextPropagator()

/** GenAI semantic-convention operation names per endpoint. */
const OPERATION: Record<string, string> = { chat: 'chat', completions: 'text_completion', embeddings: 'embeddings' }

/**
 * OpenTelemetry traces (off by default): a SERVER span per inference request with GenAI
 * semantic-convention attributes, a CLIENT span per upstream attempt, W3C traceparent honoured
 * from the client and sent to the pod. Exported over OTLP/HTTP in batches, off the request path.
 * The provider is not registered globally: several gateways in one process keep their own.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider
  private readonly tracer: Tracer

  constructor(config: NonNullable<Config['tracing']>) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpEndpoint }), { scheduledDelayMillis: config.exportDelayMs })]
    })
    this.tracer = this.provider.getTracer('brixgate')
  }

  /** The request's span, a child of the client's traceparent when it sent one. */
  startRequest(endpoint: string, headers: IncomingHttpHeaders): RequestTrace {
    const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter)
    const operation = OPERATION[endpoint] ?? endpoint
    const span = this.tracer.startSpan(operation, { kind: SpanKind.SERVER, attributes: { 'gen_ai.operation.name': operation } }, parent)
    return new RequestTrace(this.tracer, span, trace.setSpan(parent, span), operation)
  }

  /** Exports what is buffered and stops. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined)
  }
}

export class RequestTrace {
  private attemptSpan: Span | undefined

  constructor(
    private readonly tracer: Tracer,
    readonly span: Span,
    private readonly context: Context,
    private readonly operation: string
  ) {}

  /** Names the span `{operation} {model}` as the GenAI conventions ask. */
  model(model: string, maxTokens: number | undefined, stream: boolean): void {
    this.span.updateName(`${this.operation} ${model}`)
    this.span.setAttribute('gen_ai.request.model', model)
    if (maxTokens !== undefined) this.span.setAttribute('gen_ai.request.max_tokens', maxTokens)
    this.span.setAttribute('brixgate.stream', stream)
  }

  /** A child span for one attempt; returns the headers to send with its traceparent. */
  startAttempt(pod: { name: string; address: string }, attempt: number, headers: Record<string, string>): Record<string, string> {
    const [host, port] = splitAddress(pod.address)
    this.attemptSpan = this.tracer.startSpan(
      `attempt ${pod.name}`,
      { kind: SpanKind.CLIENT, attributes: { 'server.address': host, 'server.port': port, 'brixgate.pod': pod.name, 'brixgate.attempt': attempt } },
      this.context
    )
    const out = { ...headers }
    delete out.traceparent
    delete out.tracestate
    propagator.inject(trace.setSpan(this.context, this.attemptSpan), out, defaultTextMapSetter)
    return out
  }

  /** The attempt failed over (or its answer was the last pod's error). */
  attemptFailed(cause: string): void {
    this.attemptSpan?.setStatus({ code: SpanStatusCode.ERROR, message: cause })
    this.attemptSpan?.setAttribute('error.type', cause)
    this.attemptSpan?.end()
    this.attemptSpan = undefined
  }

  attemptCommitted(status: number): void {
    this.attemptSpan?.setAttribute('http.response.status_code', status)
  }

  /** Ends the request (and its committed attempt) once, with what the request did. */
  end(facts: { status: number; pod?: string; strategy?: string; retries: number; inputTokens?: number; outputTokens?: number; ttftMs?: number; error?: string }): void {
    const s = this.span
    s.setAttribute('http.response.status_code', facts.status)
    if (facts.pod) s.setAttribute('brixgate.pod', facts.pod)
    if (facts.strategy) s.setAttribute('brixgate.strategy', facts.strategy)
    s.setAttribute('brixgate.retries', facts.retries)
    if (facts.inputTokens !== undefined) s.setAttribute('gen_ai.usage.input_tokens', facts.inputTokens)
    if (facts.outputTokens !== undefined) s.setAttribute('gen_ai.usage.output_tokens', facts.outputTokens)
    if (facts.ttftMs !== undefined) s.setAttribute('gen_ai.server.time_to_first_token', facts.ttftMs / 1000)
    if (facts.status >= 500 || facts.error) {
      s.setStatus({ code: SpanStatusCode.ERROR, message: facts.error })
      if (facts.error) s.setAttribute('error.type', facts.error)
    }
    this.attemptSpan?.end()
    s.end()
  }
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':')
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))]
}

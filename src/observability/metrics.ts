import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { HotCounter, HotHistogram, type CounterSeries, type HistogramSeries } from './hot-metrics.js'
import type { PodRegistry } from '../discovery/registry.js'
import type { InflightTracker } from '../telemetry/inflight.js'

/** The gateway's own Prometheus series (prefix brixgate_), one registry per gateway instance. */
export class GatewayMetrics {
  readonly registry = new Registry()
  // recorded on every request: hot metrics (a label set resolved once), not prom-client's own
  readonly requests: HotCounter
  readonly duration: HotHistogram
  readonly ttft: HotHistogram
  readonly tokensTotal: CounterSeries
  readonly decisions: HotCounter
  readonly upstreamErrors: Counter<'pod' | 'kind'>
  readonly rateLimited: Counter<'reason'>
  readonly storeErrors: Counter<'op'>
  readonly watchRestarts: Counter<'resource'>
  readonly tokenizeCalls: Counter<'outcome'>
  readonly prefixMatch: HotHistogram
  readonly retries: Counter<'cause'>
  readonly ejections: Counter<'reason'>
  readonly poisonRequests: Counter
  readonly streamsCut: Counter<'reason'>
  readonly gatewayOverhead: HistogramSeries
  readonly configGeneration: Gauge
  readonly configReloads: Counter<'outcome'>
  readonly stepAdmit: HistogramSeries
  readonly stepRoute: HistogramSeries
  readonly stepConnect: HistogramSeries
  readonly admissionWait: Histogram<'band'>
  readonly admissionRejected: Counter<'band' | 'reason'>
  /** Requests waiting in the admission queue per model and band (set when the queue exists). */
  queueDepth: () => { model: string; band: string; waiting: number }[] = () => []
  readonly sharedRecords: Counter<'direction'>

  constructor(registry: PodRegistry, inflight: InflightTracker, opts: { defaultMetrics?: boolean } = {}) {
    const r = this.registry
    if (opts.defaultMetrics) collectDefaultMetrics({ register: r, prefix: 'brixgate_' })
    this.requests = new HotCounter({ name: 'brixgate_requests_total', help: 'Inference requests by final status.', labelNames: ['model', 'endpoint', 'status', 'strategy'], registers: [r] })
    this.duration = new HotHistogram({
      name: 'brixgate_request_duration_seconds',
      help: 'Time from request to last byte.',
      labelNames: ['endpoint', 'stream'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [r]
    })
    this.ttft = new HotHistogram({
      name: 'brixgate_time_to_first_byte_seconds',
      help: 'Time from forwarding to the first response byte from the pod.',
      labelNames: ['pod'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r]
    })
    this.tokensTotal = new HotCounter({ name: 'brixgate_tokens_total', help: 'Tokens reported in usage.', labelNames: ['kind'], registers: [r] }).labels('total')
    this.decisions = new HotCounter({ name: 'brixgate_routing_decisions_total', help: 'Pods chosen per strategy.', labelNames: ['strategy', 'pod'], registers: [r] })
    this.upstreamErrors = new Counter({ name: 'brixgate_upstream_errors_total', help: 'Failures talking to pods.', labelNames: ['pod', 'kind'], registers: [r] })
    this.rateLimited = new Counter({ name: 'brixgate_rate_limited_total', help: 'Requests refused by rate limits.', labelNames: ['reason'], registers: [r] })
    this.prefixMatch = new HotHistogram({
      name: 'brixgate_prefix_match_ratio',
      help: 'Share of the prompt found in the chosen pod\'s prefix cache (prefix strategies).',
      labelNames: ['strategy'],
      buckets: [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1],
      registers: [r]
    })
    this.watchRestarts = new Counter({ name: 'brixgate_discovery_watch_restarts_total', help: 'Kubernetes list/watch restarts after errors.', labelNames: ['resource'], registers: [r] })
    this.tokenizeCalls = new Counter({ name: 'brixgate_tokenize_requests_total', help: 'Calls to a pod\'s /tokenize (cache-aware exact-token mode) by outcome; failed ones fall back to text blocks.', labelNames: ['outcome'], registers: [r] })
    this.retries = new Counter({ name: 'brixgate_upstream_retries_total', help: 'Requests sent to another pod before the first byte, by why the previous pod failed.', labelNames: ['cause'], registers: [r] })
    this.ejections = new Counter({ name: 'brixgate_outlier_ejections_total', help: 'Pods taken out of rotation by outlier detection, by reason (failures, hung).', labelNames: ['reason'], registers: [r] })
    this.poisonRequests = new Counter({ name: 'brixgate_poison_requests_total', help: 'Requests answered 502 after resetting two pods (never retried again).', registers: [r] })
    this.streamsCut = new Counter({ name: 'brixgate_streams_cut_total', help: 'Streams ended with an error event after the first byte, by reason (upstream, shutdown).', labelNames: ['reason'], registers: [r] })
    this.gatewayOverhead = new HotHistogram({
      name: 'brixgate_gateway_overhead_seconds',
      help: "The gateway's own time before the pod got the request (identify, parse, admit, route, failed attempts), apart from the pod's time.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [r]
    }).labels()
    const steps = new HotHistogram({
      name: 'brixgate_gateway_step_seconds',
      help: "Time in each of the gateway's own steps: admit (identify, parse, limits), route (decision, tokenize), connect (pool wait and TCP connect until the request was written to the pod).",
      labelNames: ['step'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [r]
    })
    this.stepAdmit = steps.labels('admit')
    this.stepRoute = steps.labels('route')
    this.stepConnect = steps.labels('connect')
    this.configGeneration = new Gauge({ name: 'brixgate_config_generation', help: 'The config generation in use: 1 at start, +1 for every reload applied.', registers: [r] })
    this.configGeneration.set(1)
    this.configReloads = new Counter({ name: 'brixgate_config_reloads_total', help: 'Config reloads (SIGHUP, file watch) by outcome (applied, rejected).', labelNames: ['outcome'], registers: [r] })
    this.admissionWait = new Histogram({
      name: 'brixgate_admission_wait_seconds',
      help: 'Time requests waited in the admission queue before going to a pod, by band (0 when the pods had room).',
      labelNames: ['band'],
      buckets: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r]
    })
    this.admissionRejected = new Counter({ name: 'brixgate_admission_rejected_total', help: 'Requests the admission queue refused, by band and reason (full, timeout, shed).', labelNames: ['band', 'reason'], registers: [r] })
    const depth = () => this.queueDepth()
    new Gauge({
      name: 'brixgate_admission_queue_depth',
      help: 'Requests waiting in the admission queue for full pods, per model and band (an autoscaling signal).',
      labelNames: ['model', 'band'],
      registers: [r],
      collect() {
        this.reset()
        for (const d of depth()) this.set({ model: d.model, band: d.band }, d.waiting)
      }
    })
    this.sharedRecords = new Counter({
      name: 'brixgate_shared_routing_records_total',
      help: 'Routing-state records (prefix deltas, response pins) exchanged with the other replicas through Redis, by direction (sent, received, dropped).',
      labelNames: ['direction'],
      registers: [r]
    })
    this.storeErrors = new Counter({ name: 'brixgate_rate_limit_store_errors_total', help: 'Rate-limit store failures.', labelNames: ['op'], registers: [r] })
    new Gauge({
      name: 'brixgate_pod_inflight_requests',
      help: 'Requests the gateway has open per pod.',
      labelNames: ['pod'],
      registers: [r],
      collect() {
        this.reset()
        for (const pod of registry.all()) this.set({ pod: pod.name }, inflight.get(pod.address))
      }
    })
    new Gauge({
      name: 'brixgate_pods',
      help: 'Known pods per model and routability.',
      labelNames: ['model', 'routable'],
      registers: [r],
      collect() {
        this.reset()
        const counts = new Map<string, number>()
        for (const pod of registry.all()) {
          const key = `${pod.model}\u0000${pod.ready && !registry.isEjected(pod.address)}`
          counts.set(key, (counts.get(key) ?? 0) + 1)
        }
        for (const [key, n] of counts) {
          const [model, routable] = key.split('\u0000')
          this.set({ model, routable }, n)
        }
      }
    })
  }
}

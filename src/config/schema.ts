import { z } from 'zod'

/** "host:port" with a numeric port; IPv6 hosts in brackets ("[::1]:8000"). */
const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be "host:port"')

const labels = z.record(z.string(), z.string())

const endpoint = z.union([
  address,
  z.strictObject({
    address,
    name: z.string().min(1).optional(),
    labels: labels.optional()
  })
])

const staticModel = z.strictObject({
  name: z.string().min(1),
  endpoints: z.array(endpoint).min(1),
  adapters: z.array(z.string().min(1)).optional(),
  requestsPerSecond: z.number().positive().optional()
})

const positiveInt = z.number().int().positive()

const server = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(8888),
  bodyLimitBytes: positiveInt.default(8 * 1024 * 1024),
  requestTimeoutMs: positiveInt.default(1_800_000),
  streamIdleTimeoutMs: positiveInt.default(300_000),
  shutdownGraceMs: z.number().int().min(0).default(30_000),
  /** A request body not fully received by then is answered 408 (slow or stalled uploads). */
  bodyTimeoutMs: positiveInt.default(30_000),
  /** Open connections one client address may hold (0 = no limit). */
  maxConnectionsPerClient: z.number().int().min(0).default(0),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** One info line per request (id, model, user, strategy, pod, status, tokens, durations). */
  accessLog: z.boolean().default(true),
  /**
   * Log lines go to stdout in batches, at the latest this long after they were logged (and when
   * the process exits): one write per batch instead of one per line. 0 = every line at once.
   */
  logFlushMs: z.number().int().min(0).max(10_000).default(100),
  /** Reload the config file when it changes (SIGHUP always reloads). */
  watchConfig: z.boolean().default(false)
})

/** SPEC §11: failover before the first byte and pod health. */
const upstream = z.strictObject({
  /** No first real answer from the pod by then → try another pod (0 = off). */
  firstByteTimeoutMs: z.number().int().min(0).default(30_000),
  retry: z
    .strictObject({
      /** Other pods tried after the first (0 = no failover). */
      attempts: z.number().int().min(0).max(10).default(2),
      /** Retries may be at most this share of the requests of the last 10 s (at least 3). */
      budgetPercent: z.number().min(0).max(100).default(20)
    })
    .prefault({}),
  outlier: z
    .strictObject({
      consecutiveFailures: positiveInt.default(3),
      baseEjectionMs: positiveInt.default(5000),
      maxEjectionPercent: z.number().min(0).max(100).default(50),
      /** A pod with requests open and no output for this long is ejected as hung (0 = off). */
      hangSeconds: z.number().min(0).default(20)
    })
    .prefault({}),
  /** SSE comment lines every N s until the first event (0 = off; the first one commits the response). */
  keepAliveSeconds: z.number().min(0).default(0),
  /** Requests a pod may have open (all replicas, with Redis); when every pod is at it → 503 saturated (0 = no cap). */
  maxInflightPerPod: z.number().int().min(0).default(0)
})

const kubernetes = z.strictObject({
  namespaces: z.array(z.string().min(1)).default([]),
  labelSelector: z.string().default('model.aibrix.ai/name'),
  resyncSeconds: positiveInt.default(300),
  /** Learn LoRA adapters from ModelAdapter objects (model.aibrix.ai/v1alpha1). */
  watchModelAdapters: z.boolean().default(true),
  /** Poll each routable pod's /v1/models for adapters every N seconds (0 = off). */
  adapterPollSeconds: z.number().int().min(0).default(30)
})

const discovery = z
  .strictObject({
    static: z.strictObject({ models: z.array(staticModel).min(1) }).optional(),
    kubernetes: kubernetes.optional()
  })
  .refine((d) => d.static !== undefined || d.kubernetes !== undefined, {
    message: 'needs one source: "static" or "kubernetes"'
  })

const prefixCache = z.strictObject({
  // whole 32-bit words per block: the block hasher reads words (src/routing/prefix/block-hash.ts)
  blockSize: positiveInt.refine((n) => n % 4 === 0, 'must be a multiple of 4').default(128),
  imbalanceAbsCount: positiveInt.default(16),
  stdDevFactor: z.number().positive().default(2),
  maxBlocks: positiveInt.default(200_000),
  ttlMinutes: positiveInt.default(20),
  /** cache-aware: match on the pods' own token ids (vLLM /tokenize, one call per request) instead of text blocks. */
  exactTokens: z.boolean().default(false),
  tokenizeTimeoutMs: positiveInt.default(200)
})

const share = z.strictObject({
  /** With rateLimit.store redis: replicas share what the prefix strategies learned and the Responses API pins (docs/scaling.md). */
  enabled: z.boolean().default(true),
  /** Redis pub/sub channel; deployments sharing one Redis use one channel each. */
  channel: z.string().min(1).default('brixgate:routing'),
  /** Records are batched this long before one message goes out. */
  flushMs: positiveInt.default(20),
  /** Blocks one record carries at most (a longer new prefix is shared up to here). */
  maxBlocksPerRecord: positiveInt.default(1024),
  /** Blocks one batch carries at most; records beyond are dropped (counted), never queued. */
  maxPendingBlocks: positiveInt.default(200_000)
})

const routing = z.strictObject({
  defaultStrategy: z.string().min(1).default('random'),
  explain: z.boolean().default(false),
  prefixCache: prefixCache.prefault({}),
  share: share.prefault({})
})

const limitsShape = { rpm: positiveInt, tpm: positiveInt }
const user = z.strictObject({ name: z.string().min(1), ...limitsShape })

const rateLimit = z.strictObject({
  store: z.enum(['memory', 'redis']).default('memory'),
  redis: z
    .strictObject({
      url: z.string().default('redis://127.0.0.1:6379'),
      commandTimeoutMs: positiveInt.default(100)
    })
    .prefault({}),
  onStoreError: z.enum(['open', 'closed']).default('open'),
  unknownUser: z.enum(['reject', 'default']).default('reject'),
  defaultLimits: z.strictObject(limitsShape).default({ rpm: 100, tpm: 100_000 }),
  /** Cap on the completion tokens reserved at admission when max_tokens is absent or larger. */
  maxReserveTokens: positiveInt.default(4096),
  users: z.array(user).default([])
})

const apiKey = z.union([
  z.strictObject({ key: z.string().min(8), user: z.string().min(1) }),
  z.strictObject({ keySha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'), user: z.string().min(1) })
])

const auth = z.strictObject({
  apiKeys: z.array(apiKey).default([]),
  upstreamApiKey: z.string().min(1).optional()
})

const admin = z.strictObject({ token: z.string().min(8).optional() })

const telemetry = z.strictObject({
  /** How often each pod's /metrics is scraped (0 = never; strategies then use in-flight counts). */
  scrapeIntervalMs: z.number().int().min(0).default(2000),
  scrapeTimeoutMs: positiveInt.default(1000),
  scrapeConcurrency: positiveInt.default(16),
  /** Scraped values older than this are ignored. */
  staleAfterMs: positiveInt.default(10_000),
  /** With rateLimit.store redis: how often replicas share their in-flight counts (0 = never). */
  fleetSyncMs: z.number().int().min(0).default(100)
})

const tracing = z.strictObject({
  /** OTLP/HTTP traces endpoint (JSON), e.g. an OpenTelemetry Collector's :4318/v1/traces. */
  otlpEndpoint: z.string().url(),
  serviceName: z.string().min(1).default('brixgate'),
  /** Share of new traces recorded (a client's sampled traceparent is always followed). */
  sampleRatio: z.number().min(0).max(1).default(1),
  /** Spans are exported in batches at most this long after they end. */
  exportDelayMs: z.number().int().positive().default(1000)
})

const band = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, - and _ (at most 32)'),
  /** Higher bands are served first. */
  priority: z.number().int(),
  /** Requests of this band waiting at most (0 = never queued: refused at once when the pods are full). */
  maxQueue: z.number().int().min(0).default(1000),
  /** Longest wait in the queue before a 503. */
  queueTimeoutMs: positiveInt.default(30_000),
  /** Its waiting requests are dropped first when the whole queue is full. */
  sheddable: z.boolean().default(false),
  /**
   * Share of each pod's slots this band may fill (counting every band's requests): below 1 keeps
   * headroom for higher bands, whose requests then find a free slot at once in smaller batches.
   */
  podShare: z.number().gt(0).max(1).default(1)
})

const admission = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Requests a pod takes at once before it counts as full; 0 = its batch cap (vLLM --max-num-seqs: the pod label, else learned). */
    maxInflightPerPod: z.number().int().min(0).default(0),
    /** Requests waiting in all bands together, per model. */
    maxQueue: positiveInt.default(10_000),
    bands: z
      .array(band)
      .min(1)
      .default([
        { name: 'critical', priority: 10, maxQueue: 1000, queueTimeoutMs: 60_000, sheddable: false, podShare: 1 },
        { name: 'standard', priority: 0, maxQueue: 1000, queueTimeoutMs: 30_000, sheddable: false, podShare: 1 },
        { name: 'sheddable', priority: -10, maxQueue: 1000, queueTimeoutMs: 10_000, sheddable: true, podShare: 1 }
      ]),
    /** The band of requests that name none (and of users without one). */
    defaultBand: z.string().default('standard'),
    /** Request header naming a band; it can lower a request's band, never raise it above the user's. */
    header: z.string().regex(/^[a-z0-9-]+$/).default('x-priority'),
    /** user → band (the highest band that user's requests may use, and their default). */
    users: z.record(z.string(), z.string()).default({}),
    /** While requests wait, how often capacity is re-checked (other replicas' requests, scraped queues). */
    recheckMs: positiveInt.default(25)
  })
  .superRefine((a, ctx) => {
    const names = new Set(a.bands.map((b) => b.name))
    if (names.size !== a.bands.length) ctx.addIssue({ code: 'custom', path: ['bands'], message: 'band names must be unique' })
    if (!names.has(a.defaultBand)) ctx.addIssue({ code: 'custom', path: ['defaultBand'], message: `"${a.defaultBand}" is not one of the bands (${[...names].join(', ')})` })
    for (const [user, b] of Object.entries(a.users)) {
      if (!names.has(b)) ctx.addIssue({ code: 'custom', path: ['users', user], message: `"${b}" is not one of the bands (${[...names].join(', ')})` })
    }
  })

export const configSchema = z.strictObject({
  server: server.prefault({}),
  upstream: upstream.prefault({}),
  telemetry: telemetry.prefault({}),
  discovery,
  routing: routing.prefault({}),
  rateLimit: rateLimit.prefault({}),
  auth: auth.prefault({}),
  admin: admin.prefault({}),
  /** The admission queue in front of full pods: priority bands, per-user fair share (docs/admission.md). */
  admission: admission.prefault({}),
  /** OpenTelemetry traces; absent = off. */
  tracing: tracing.optional()
})

export type Config = z.infer<typeof configSchema>
export type StaticModel = z.infer<typeof staticModel>
export type UserLimits = z.infer<typeof user>
export type AdmissionConfig = z.infer<typeof admission>
export type AdmissionInput = z.input<typeof admission>
export type BandConfig = z.infer<typeof band>

import type { Config } from '../config/schema.js'
import { blockHashes, modelSalt, tokenHashes, type BlockHashes } from './prefix/block-hash.js'
import { PrefixIndex } from './prefix/prefix-index.js'
import type { PrefixShare } from '../sharing/shared-routing.js'
import type { Pod } from '../discovery/pod.js'
import { slotWaitMs } from '../telemetry/batch-cap.js'
import { bestIndex, type RoutingInput, type Strategy } from './strategy.js'
import { tenthsText } from '../util/number-text.js'

type PrefixConfig = Config['routing']['prefixCache']

/**
 * What evicting cached prefixes costs, in prefills of the evicted size: an evicted prefix is
 * recomputed by each of its next requests until it is cached again (tuned on bench:routing).
 */
const EVICTION_WEIGHT = 3
/** What a second copy of a prefix costs, in prefills of the copied part (tuned on bench:routing). */
const DUPLICATE_WEIGHT = 1
/**
 * A pod's prefix hit rate starts as if it had served this many prompt tokens all from cache, so it
 * begins at 1 and moves to the measured rate as the pod serves traffic (a smoothed estimate).
 */
const REUSE_PRIOR_TOKENS = 5_000

function leastLoaded(input: RoutingInput, pods: readonly Pod[]): Pod {
  return pods[bestIndex(pods.map((p) => input.stats.inflight(p)), 'low', input.random) ?? 0]
}

/**
 * The index's learning, shared by both prefix strategies: accepted() records the pod as holding
 * the prompt's blocks (the blocks it held already are not touched twice), retracted() takes back
 * what accepted() added when the attempt failed — a pod that never got the prompt must not look
 * like it caches it. The request's hashes are computed once (per request object) for pick and hooks.
 * With shared routing state, both go to the other gateway replicas too (only the blocks new to this
 * index), and theirs come into this index.
 */
function learningIndex(cfg: PrefixConfig, name: string, hashesOf: (input: RoutingInput) => BlockHashes, share?: PrefixShare) {
  const index = new PrefixIndex({ maxBlocks: cfg.maxBlocks, ttlMs: cfg.ttlMinutes * 60_000 })
  share?.register(name, index)
  /** This strategy's key in a request's memo (a plain Map on the request: cheaper than a WeakMap per request). */
  const slot = {}
  interface Memo {
    hashes: BlockHashes
    /** Per pod accepted: the blocks it held before (what retracted() must leave). */
    held?: Map<string, number>
  }
  const memoOf = (input: RoutingInput): Memo => {
    const memo = (input.request.memo ??= new Map())
    let m = memo.get(slot) as Memo | undefined
    if (!m) memo.set(slot, (m = { hashes: hashesOf(input) }))
    return m
  }
  return {
    index,
    hashes: (input: RoutingInput) => memoOf(input).hashes,
    accepted(input: RoutingInput, pod: Pod) {
      const m = memoOf(input)
      const from = index.heldBy(m.hashes, pod.id)
      ;(m.held ??= new Map()).set(pod.id, from)
      index.insert(m.hashes, pod.id, from)
      share?.recorded(name, 'insert', pod.id, m.hashes, from)
    },
    retracted(input: RoutingInput, pod: Pod) {
      // nothing accepted on this request: nothing to take back (and no hashing to do)
      const m = input.request.memo?.get(slot) as Memo | undefined
      const from = m?.held?.get(pod.id)
      if (m === undefined || from === undefined) return
      index.remove(m.hashes, pod.id, from)
      share?.recorded(name, 'remove', pod.id, m.hashes, from)
    }
  }
}

/**
 * AIBrix's prefix-cache strategy: prompt text in `blockSize`-byte blocks with chained 64-bit
 * hashes, an index hash → pods (LRU + TTL). When the in-flight spread exceeds imbalanceAbsCount,
 * only the least-loaded pods are candidates; among the pods with the longest match, one whose
 * in-flight ≤ mean + stdDevFactor·σ; else the least loaded. The chosen pod is indexed.
 */
export function prefixCacheStrategy(cfg: PrefixConfig, share?: PrefixShare): Strategy {
  const learning = learningIndex(cfg, 'prefix-cache', (input) => blockHashes(input.request.text(), cfg.blockSize, modelSalt(input.request.model)), share)
  const { index } = learning
  return {
    name: 'prefix-cache',
    better: 'high',
    // for mixes: the share of the prompt each pod holds
    score(input) {
      const hashes = learning.hashes(input)
      const counts = index.match(hashes, new Set(input.pods.map((p) => p.id)))
      return input.pods.map((p) => (hashes.keys.length > 0 ? (counts.get(p.id) ?? 0) / hashes.keys.length : 0))
    },
    accepted: learning.accepted,
    retracted: learning.retracted,
    pick(input) {
      const { stats } = input
      const hashes = learning.hashes(input)
      const loads = input.pods.map((p) => stats.inflight(p))
      const min = Math.min(...loads)
      const imbalanced = Math.max(...loads) - min > cfg.imbalanceAbsCount
      // under imbalance only the least-loaded pods are candidates (SPEC §7)
      const pods = imbalanced ? input.pods.filter((p) => stats.inflight(p) === min) : input.pods
      const counts = index.match(hashes, new Set(pods.map((p) => p.id)))
      const best = Math.max(0, ...counts.values())
      const mean = loads.reduce((a, b) => a + b, 0) / loads.length
      const sigma = Math.sqrt(loads.reduce((a, b) => a + (b - mean) ** 2, 0) / loads.length)
      const eligible = best > 0 ? pods.filter((p) => counts.get(p.id) === best && stats.inflight(p) <= mean + cfg.stdDevFactor * sigma) : []
      const pod = leastLoaded(input, eligible.length > 0 ? eligible : pods)
      const matched = eligible.length > 0 ? best : 0
      const reason = `${imbalanced ? 'imbalanced: least-loaded candidates, ' : ''}${matched > 0 ? `prefix match ${matched}/${hashes.keys.length} blocks` : best > 0 ? 'matching pods overloaded: least loaded' : 'no prefix match: least loaded'}`
      return { pod, reason: `prefix-cache ${reason}, inflight=${stats.inflight(pod)}`, prefixMatch: hashes.keys.length > 0 ? matched / hashes.keys.length : 0 }
    }
  }
}

/** vLLM's default KV block size, for pods that do not report vllm:cache_config_info. */
const DEFAULT_BLOCK_TOKENS = 16

/**
 * The request's prefix blocks: over the pods' token ids when the pipeline fetched them (exact
 * mode: blocks of the pods' own KV block size, as their prefix cache cuts them), else text blocks.
 */
function requestHashes(input: RoutingInput, cfg: PrefixConfig): BlockHashes {
  const tokens = input.request.tokens
  const salt = modelSalt(input.request.model)
  if (!tokens) return blockHashes(input.request.text(), cfg.blockSize, salt)
  const blockTokens = input.pods.map((p) => input.stats.metrics(p)?.blockSize).find((b) => b !== undefined && b > 0) ?? DEFAULT_BLOCK_TOKENS
  return tokenHashes(tokens, blockTokens, salt)
}

/**
 * cache-aware (brixgate's own): the expected time to first token on each pod — prefill of the
 * prompt part the pod has not cached and the prefills queued in front of it, at the pod's measured
 * speed — plus what caching this prompt there costs later (evictions, a second copy); the cheapest
 * pod wins. A pod holding the prefix keeps the conversation until waiting there costs more than
 * recomputing the prefix elsewhere and keeping a second copy (docs/routing.md).
 */
export function cacheAwareStrategy(cfg: PrefixConfig, share?: PrefixShare): Strategy {
  const learning = learningIndex(cfg, 'cache-aware', (input) => requestHashes(input, cfg), share)
  const { index } = learning
  /** Each pod's share of the prompt already cached and its expected cost in ms, for this request. */
  const evaluate = (input: RoutingInput) => {
    const hashes = learning.hashes(input)
    const mode = input.request.tokens ? 'tokens' : 'text'
    const counts = index.match(hashes, new Set(input.pods.map((p) => p.id)))
    const blocks = hashes.keys.length
    const shares = input.pods.map((p) => (blocks > 0 ? (counts.get(p.id) ?? 0) / blocks : 0))
    const bestShare = Math.max(0, ...shares)
    // exact-token mode knows the prompt's length; otherwise the byte estimate
    const promptTokens = input.request.tokens?.length ?? input.request.promptTokens
    const costs = input.pods.map((p, i) => {
      const perf = input.stats.perf(p)
      const m = input.stats.metrics(p)
      const cachedShare = shares[i]
      // prefills run one after another: the wait is the prompt tokens queued in front of this one
      // (what this gateway sent and is not yet answered, as uncached tokens) at the pod's speed, plus
      // requests other clients queued there (num_requests_waiting) at its measured prefill turn;
      // requests already decoding only slow each step a little
      const queueMs = input.stats.prefillTokens(p) * perf.prefillMsPerToken + (m?.waiting ?? 0) * perf.prefillTurnMs
      // a full batch (vLLM max-num-seqs): beyond the cap a request waits for a running one to finish,
      // however little it has to prefill — the wait that makes a hot tenant's pod the slowest
      const slotMs = slotWaitMs(input.stats.inflight(p), input.stats.batchCap(p), perf.e2eMs)
      const decoding = Math.max(0, input.stats.inflight(p) - input.stats.prefilling(p))
      const newTokens = promptTokens * (1 - cachedShare)
      const prefill = newTokens * perf.prefillMsPerToken
      // caching a new prefix on a full pod evicts other prefixes, which cost as much again later.
      // How full: what the pod was sent to compute lately over its capacity (vLLM's cache keeps the
      // most recently computed blocks; above 1 it is overflowing), else its scraped KV usage;
      // weighed by how much its cache is reused (hit rate, starting at 1 so new prefixes spread
      // over the pods from the start)
      const fill = m?.kvCapacityTokens ? (input.stats.recentComputedTokens(p) + newTokens) / m.kvCapacityTokens : (m?.kvCacheUsage ?? 0)
      const reuse = ((m?.prefixHits ?? 0) + REUSE_PRIOR_TOKENS) / ((m?.prefixQueries ?? 0) + REUSE_PRIOR_TOKENS)
      const eviction = EVICTION_WEIGHT * prefill * fill * reuse
      // a second copy of a prefix another pod holds takes cache space from other prefixes for as
      // long as it lives: it is worth it only when the wait for the holder exceeds twice the recompute
      const duplicate = DUPLICATE_WEIGHT * (bestShare - cachedShare) * promptTokens * perf.prefillMsPerToken
      return prefill + eviction + duplicate + queueMs + slotMs + decoding * 0.01 * perf.tpotMs * input.request.outputTokens
    })
    return { hashes, mode, counts, shares, promptTokens, costs }
  }
  return {
    name: 'cache-aware',
    better: 'low',
    wantsTokens: cfg.exactTokens,
    score: (input) => evaluate(input).costs,
    accepted: learning.accepted,
    retracted: learning.retracted,
    pick(input) {
      const { mode, shares, promptTokens, costs } = evaluate(input)
      const i = bestIndex(costs, 'low', input.random) ?? 0
      const pod = input.pods[i]
      const prefixMatch = shares[i]
      return {
        pod,
        prefixMatch,
        prefillTokens: promptTokens * (1 - prefixMatch),
        // rounded without toFixed, a call into V8's C++ (~800 instructions each) for every request
        reason: `cache-aware ${mode === 'tokens' ? 'token ' : ''}prefix=${Math.round(prefixMatch * 100)}% expected-ttft=${tenthsText(costs[i])}ms inflight=${input.stats.inflight(pod)}`
      }
    }
  }
}

import type { Strategy } from './strategy.js'

const header = (h: Readonly<Record<string, string | string[] | undefined>>, name: string) => {
  const v = h[name]
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** Rendezvous weight: FNV-1a over key and pod id, finished with a murmur-style mix (cheap, well spread). */
function weight(key: string, podId: string): number {
  let h = 0x811c9dc5
  const s = `${key}\u0000${podId}`
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * Sticky sessions. `x-session-id` is base64("ip:port") of the pod that served the session (the
 * response carries it); the request goes back there while it is routable. `x-aibrix-session-key`
 * maps a key to a pod by rendezvous hashing, so only keys of a removed pod move.
 * New sessions go to the least-loaded pod.
 */
export const sessionAffinityStrategy: Strategy = {
  name: 'session-affinity',
  pick({ request, pods, stats }) {
    const withHeader = (pod: (typeof pods)[number], reason: string) => ({
      pod,
      reason: `session-affinity ${reason}`,
      headers: { 'x-session-id': Buffer.from(pod.address).toString('base64') }
    })
    const session = header(request.headers, 'x-session-id')
    if (session) {
      const address = Buffer.from(session, 'base64').toString('utf8')
      const pod = pods.find((p) => p.address === address)
      if (pod) return withHeader(pod, 'sticky')
    }
    const key = header(request.headers, 'x-aibrix-session-key')
    if (key) {
      let best = pods[0]
      let bestWeight = -1
      for (const p of pods) {
        const w = weight(key, p.id)
        if (w > bestWeight) [best, bestWeight] = [p, w]
      }
      return withHeader(best, 'rendezvous')
    }
    let best = pods[0]
    for (const p of pods) if (stats.inflight(p) < stats.inflight(best)) best = p
    return withHeader(best, session ? 'session pod gone: least loaded' : 'new session: least loaded')
  }
}

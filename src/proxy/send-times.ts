import { subscribe, unsubscribe } from 'node:diagnostics_channel'

const CHANNEL = 'undici:client:sendHeaders'
const MARK = '\r\nx-request-id: '
const MAX_PENDING = 10_000

/**
 * When each gateway request's headers were written to a pod's socket, from undici's diagnostics
 * channel: the difference to when the gateway dispatched it is the pool wait plus any TCP
 * connect (the `connect` entry of server-timing). Keyed by the x-request-id the gateway sends;
 * the pipeline takes the value after each attempt, so the map holds requests in flight (and, at
 * most MAX_PENDING, attempts whose client left before they returned).
 */
export class UpstreamSendTimes {
  private readonly sent = new Map<string, number>()
  private readonly onSend = (message: unknown) => {
    const headers = (message as { headers?: unknown }).headers
    if (typeof headers !== 'string') return
    const at = headers.indexOf(MARK)
    if (at < 0) return
    const end = headers.indexOf('\r\n', at + MARK.length)
    if (end < 0) return
    // an attempt the client abandoned is never taken: drop the oldest entry rather than grow
    if (this.sent.size >= MAX_PENDING) this.sent.delete(this.sent.keys().next().value as string)
    this.sent.set(headers.slice(at + MARK.length, end), performance.now())
  }

  start(): void {
    subscribe(CHANNEL, this.onSend)
  }

  stop(): void {
    unsubscribe(CHANNEL, this.onSend)
    this.sent.clear()
  }

  /** performance.now() when the request's headers went out (last attempt), once; undefined if unseen. */
  take(requestId: string): number | undefined {
    const at = this.sent.get(requestId)
    if (at !== undefined) this.sent.delete(requestId)
    return at
  }
}

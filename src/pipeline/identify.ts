import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { Config } from '../config/schema.js'
import { GatewayError } from '../errors/catalogue.js'

const sha256 = (s: string) => createHash('sha256').update(s).digest()

export interface Identity {
  /** The user whose limits apply; undefined → no per-user limits. */
  user?: string
}

/** Maps gateway API keys to users; keys are compared by SHA-256 digest in constant time. */
export class Authenticator {
  private keys: { digest: Buffer; user: string }[] = []

  constructor(auth: Config['auth']) {
    this.reconfigure(auth)
  }

  /** New keys for the next request (config reload). */
  reconfigure(auth: Config['auth']): void {
    this.keys = auth.apiKeys.map((k) => ({ digest: 'key' in k ? sha256(k.key) : Buffer.from(k.keySha256, 'hex'), user: k.user }))
  }

  get enabled(): boolean {
    return this.keys.length > 0
  }

  /** Who is calling. Throws 401 for a missing/bad key (auth on), 403 when `user` disagrees with the key. */
  identify(headers: IncomingHttpHeaders): Identity {
    const userHeader = typeof headers.user === 'string' && headers.user !== '' ? headers.user : undefined
    if (!this.enabled) return { user: userHeader }
    const auth = headers.authorization
    const match = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null
    if (!match) throw new GatewayError('invalid_api_key', 'Missing API key: send "Authorization: Bearer <key>".')
    const digest = sha256(match[1])
    let user: string | undefined
    for (const k of this.keys) if (timingSafeEqual(k.digest, digest)) user = k.user
    if (user === undefined) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.')
    if (userHeader !== undefined && userHeader !== user) throw new GatewayError('user_mismatch')
    return { user }
  }
}

import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * Checks an Authorization header against the admin token: `Bearer <token>` (API clients) or
 * HTTP Basic with the token as password and any user name (a browser opening /ui). Constant time.
 */
export function adminTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token)
  return (authorization) => {
    const value = String(authorization ?? '').trim()
    const bearer = /^Bearer\s+(.+)$/i.exec(value)
    if (bearer) return timingSafeEqual(digest(bearer[1].trim()), expected)
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(value)
    if (!basic) return false
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon >= 0 && timingSafeEqual(digest(decoded.slice(colon + 1)), expected)
  }
}

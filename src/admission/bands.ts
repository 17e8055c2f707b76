import type { AdmissionConfig, BandConfig } from '../config/schema.js'

/**
 * A request's band: the user's band (else the default) is its ceiling; the header may name a lower
 * band (a batch job marking itself sheddable), never a higher one, so a client cannot jump the queue.
 */
export function bandFor(cfg: AdmissionConfig, user: string | undefined, header: string | undefined): BandConfig {
  const byName = (name: string | undefined) => cfg.bands.find((b) => b.name === name)
  const ceiling = byName(user === undefined ? undefined : cfg.users[user]) ?? byName(cfg.defaultBand) ?? cfg.bands[0]
  const asked = byName(header?.trim().toLowerCase())
  return asked && asked.priority <= ceiling.priority ? asked : ceiling
}

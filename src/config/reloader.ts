import { createHash } from 'node:crypto'
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Gateway } from '../gateway.js'
import type { Logger } from '../observability/logger.js'
import { ConfigError, loadConfigFile } from './load.js'
import type { Config } from './schema.js'

const DEBOUNCE_MS = 250

/**
 * Reloads the gateway's config file on SIGHUP and, with `server.watchConfig`, when the file
 * changes. The file is validated first: a bad one changes nothing and is logged with the key
 * paths at fault.
 */
export class ConfigReloader {
  private watcher: FSWatcher | undefined
  private timer: NodeJS.Timeout | undefined
  private lastHash: string

  constructor(
    private readonly file: string,
    private readonly gateway: Pick<Gateway, 'reload' | 'reloadRejected'>,
    private readonly logger: Logger,
    /** What the command line overrides (--host, --port), applied to every reloaded file too. */
    private readonly overrides: (config: Config) => void = () => undefined
  ) {
    this.lastHash = this.hash() ?? ''
  }

  private hash(): string | undefined {
    try {
      return createHash('sha256').update(readFileSync(this.file)).digest('hex')
    } catch {
      return undefined
    }
  }

  /** Reads, validates and applies the file; true when applied. */
  reload(trigger: string): boolean {
    try {
      const next = loadConfigFile(this.file)
      this.overrides(next)
      this.lastHash = this.hash() ?? this.lastHash
      const r = this.gateway.reload(next)
      this.logger.info({ trigger, generation: r.generation, changed: r.changed }, `config reloaded: generation ${r.generation}`)
      if (r.restartNeeded.length > 0) this.logger.warn({ restartNeeded: r.restartNeeded }, `config reload kept the running values of ${r.restartNeeded.join(', ')}: they need a restart`)
      return true
    } catch (err) {
      this.gateway.reloadRejected()
      const message = err instanceof ConfigError ? err.message : `${this.file}: ${(err as Error).message}`
      this.logger.error({ trigger, file: this.file }, `config reload rejected, nothing changed: ${message}`)
      return false
    }
  }

  onSignal(): this {
    process.on('SIGHUP', () => this.reload('SIGHUP'))
    return this
  }

  /**
   * Watches the file's folder, not the file: editors replace files, and a Kubernetes ConfigMap
   * volume swaps a symlink. Reloads only when the content changed.
   */
  watch(): this {
    const name = basename(this.file)
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed && changed !== name && !String(changed).startsWith('..')) return
      clearTimeout(this.timer)
      this.timer = setTimeout(() => {
        const h = this.hash()
        if (h !== undefined && h !== this.lastHash) this.reload('file change')
      }, DEBOUNCE_MS)
    })
    this.watcher.on('error', (err) => this.logger.warn({ err: err.message }, 'config file watch failed; SIGHUP still reloads'))
    return this
  }

  stop(): void {
    this.watcher?.close()
    clearTimeout(this.timer)
  }
}

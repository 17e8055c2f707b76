/**
 * The logger's stdout, written in batches: lines are joined into one string, which goes out when
 * it is full, `flushMs` after its first line, and when the process exits — one write (and one
 * UTF-8 encoding) per batch instead of one per line. (sonic-boom's own batching, `minLength`,
 * measures the pending batch's byte length again on every line, and was no faster than a write
 * per line; encoding each line into a shared buffer as it came cost a call into C++ per line.)
 * process.stdout writes synchronously on Linux (files, pipes, terminals), so a flushed batch is out.
 */
export class BatchedStdout {
  private pending = ''
  private timer: NodeJS.Timeout | undefined
  /** The reader went away (EPIPE): lines are dropped from then on, as pino does. */
  private broken = false

  constructor(
    private readonly flushMs: number,
    private readonly out: NodeJS.WritableStream = process.stdout,
    /** A batch's bound in UTF-8 bytes, counted as 3 per UTF-16 unit (the most one can take). */
    private readonly size = 64 * 1024
  ) {
    out.on('error', () => (this.broken = true))
    process.once('exit', () => this.flush())
  }

  write(line: string): boolean {
    if (this.broken) return true
    if ((this.pending.length + line.length) * 3 > this.size) {
      this.flush()
      if (line.length * 3 > this.size) {
        this.out.write(line)
        return true
      }
    }
    this.pending += line
    this.timer ??= setTimeout(() => this.flush(), this.flushMs).unref()
    return true
  }

  /** Writes the batch now; pino's logger.flush(cb) calls it. */
  flush(done?: () => void): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.pending !== '' && !this.broken) {
      const batch = this.pending
      this.pending = ''
      this.out.write(batch)
    }
    done?.()
  }
}

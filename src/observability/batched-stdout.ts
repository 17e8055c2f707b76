/**
 * The logger's stdout, written in batches: each line is UTF-8 encoded straight into one buffer,
 * which goes out when it is full, `flushMs` after its first line, and when the process exits —
 * one write per batch instead of one per line. (sonic-boom's own batching, `minLength`, measures
 * the pending batch's byte length again on every line, and was no faster than a write per line.)
 * process.stdout writes synchronously on Linux (files, pipes, terminals), so a flushed batch is out.
 */
export class BatchedStdout {
  private buffer: Buffer
  private used = 0
  private timer: NodeJS.Timeout | undefined
  /** The reader went away (EPIPE): lines are dropped from then on, as pino does. */
  private broken = false

  constructor(
    private readonly flushMs: number,
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly size = 64 * 1024
  ) {
    this.buffer = Buffer.allocUnsafe(size)
    out.on('error', () => (this.broken = true))
    process.once('exit', () => this.flush())
  }

  write(line: string): boolean {
    if (this.broken) return true
    // a line takes at most 3 UTF-8 bytes per UTF-16 unit
    if (this.used + line.length * 3 > this.size) {
      this.flush()
      if (line.length * 3 > this.size) {
        this.out.write(line)
        return true
      }
    }
    this.used += this.buffer.write(line, this.used)
    this.timer ??= setTimeout(() => this.flush(), this.flushMs).unref()
    return true
  }

  /** Writes the batch now; pino's logger.flush(cb) calls it. */
  flush(done?: () => void): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.used > 0 && !this.broken) {
      // a fresh buffer for the next batch: a write the pipe could not take at once keeps this one
      const batch = this.buffer.subarray(0, this.used)
      this.buffer = Buffer.allocUnsafe(this.size)
      this.used = 0
      this.out.write(batch)
    }
    done?.()
  }
}

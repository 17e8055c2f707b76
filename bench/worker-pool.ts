import { Worker } from 'node:worker_threads'

/** Worker threads that take one run per message; runs queue for the first free worker. */
export class WorkerPool<In, Out> {
  private readonly idle: Worker[]
  private readonly queue: (() => void)[] = []

  /** `file`: the worker script's path. */
  constructor(file: string, size: number) {
    this.idle = Array.from({ length: size }, () => new Worker(file))
  }

  /** The run's result and its wall time (not counting its wait for a worker). */
  async run(input: In): Promise<{ result: Out; seconds: number }> {
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.queue.push(() => resolve(this.idle.pop()!))))
    const started = Date.now()
    try {
      const result = await new Promise<Out>((resolve, reject) => {
        worker.once('message', (m: { result?: Out; error?: string }) => (m.result ? resolve(m.result) : reject(new Error(m.error))))
        worker.postMessage(input)
      })
      return { result, seconds: (Date.now() - started) / 1000 }
    } finally {
      this.idle.push(worker)
      this.queue.shift()?.()
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.idle.map((w) => w.terminate()))
  }
}

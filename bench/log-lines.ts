/**
 * npm run bench:logs — CPU per access-log line written to a pipe, as the gateway writes it under
 * load: pino's default destination (a write per line), sonic-boom's own batching (minLength) and
 * the gateway's batched stdout (src/observability/batched-stdout.ts), in interleaved rounds. The
 * script runs itself as a child whose stdout is a pipe it reads and drops, as a log shipper would.
 */
import { spawn } from 'node:child_process'
import { pino, type Logger } from 'pino'
import { BatchedStdout } from '../src/observability/batched-stdout.js'
import { fmt, median } from './lib.js'

const LINES = 20_000
const ROUNDS = 5
const line = (i: number) => ({ requestId: `a1b2c3d4-e5f6-4711-8899-aabbccdd${String(i % 10_000).padStart(4, '0')}`, model: 'bench', strategy: 'cache-aware', pod: '127.0.0.1:4000', status: 200, stream: false, tokens: 25, ms: 1, upstreamMs: 0 })
const options = { level: 'info', base: { name: 'brixgate' } }
const loggers: [string, Logger][] = [
  ['pino default (a write per line)', pino(options)],
  ['sonic-boom minLength 8 KB, flush 100 ms', pino(options, pino.destination({ dest: 1, sync: false, minLength: 8192, periodicFlush: 100 }))],
  ['batched stdout, flush 100 ms (the default)', pino(options, new BatchedStdout(100))]
]

async function main(): Promise<void> {
  const results = new Map<string, number[]>(loggers.map(([name]) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, logger] of loggers) {
      const start = process.cpuUsage()
      // 20 lines per turn of the event loop, as requests finishing between two socket reads would log them
      for (let i = 0; i < LINES; i += 20) {
        for (let j = 0; j < 20; j++) logger.info(line(i + j), 'request')
        await new Promise((r) => setImmediate(r))
      }
      const used = process.cpuUsage(start)
      results.get(name)!.push((used.user + used.system) / LINES)
    }
  }
  const base = median(results.get(loggers[0][0])!)
  console.error(`\n${LINES} access-log lines per round, ${ROUNDS} rounds, median (node ${process.version}); stdout is a pipe\n`)
  console.error('| destination | CPU µs per line | vs pino default |')
  console.error('|---|---:|---:|')
  for (const [name, xs] of results) console.error(`| ${name} | ${fmt(median(xs))} | ${fmt(median(xs) / base)}× |`)
}

if (process.env.BENCH_LOGS_CHILD) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  const child = spawn(process.execPath, [process.argv[1]], { env: { ...process.env, BENCH_LOGS_CHILD: '1' }, stdio: ['ignore', 'pipe', 'inherit'] })
  child.stdout.resume()
  child.on('exit', (code) => process.exit(code ?? 1))
}

#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from './config/load.js'
import { ConfigReloader } from './config/reloader.js'
import type { Config } from './config/schema.js'
import { createGateway } from './gateway.js'
import { createLogger, type Logger } from './observability/logger.js'

const USAGE = `Usage:
  brixgate --config FILE [--host HOST] [--port PORT] [--log-level info]
                                                       run the gateway (or BRIXGATE_CONFIG=FILE)
  brixgate demo [--port 8888] [--traffic 2]            3 simulated vLLM pods + a gateway, with N requests/s
                                                       of background traffic (0: none); status page at /ui
  brixgate sim --port N --model NAME [--gpu a100] [--lora a,b] [--max-loras N] [--time-scale 1]
                                                       one simulated vLLM pod`

/** The simulator's modules; its tokenizer is an optional dependency the gateway image leaves out. */
async function simModule<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /gpt-tokenizer/.test((err as Error).message)) {
      fail('the simulator needs the optional dependency gpt-tokenizer (npm install gpt-tokenizer); the gateway image leaves it out')
    }
    throw err
  }
}

/** The start-up line is printed whatever the log level: scripts and humans wait for it. */
function announce(logger: Logger, url: string, message: string): void {
  logger.child({}, { level: 'info' }).info({ url }, message)
  logger.flush()
}

/** server.logFlushMs's default, for the commands that run without a config file. */
const LOG_FLUSH_MS = 100

function fail(message: string): never {
  process.stderr.write(`brixgate: ${message}\n`)
  process.exit(2)
}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`--${name} must be a whole number from 0 to 65535, got "${value}"`)
  return n
}

/**
 * Runs `close` on SIGTERM/SIGINT, then exits 0 — or 1 when the shutdown grace ran out and open
 * streams had to be cut; a second signal exits at once.
 */
function onSignals(logger: Logger, close: () => Promise<void | { streamsCut: number }>): void {
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) process.exit(1)
    stopping = true
    logger.info(`${signal} received: draining in-flight requests`)
    close().then(
      (result) => process.exit(result && result.streamsCut > 0 ? 1 : 0),
      (err) => {
        logger.error({ err }, 'error while stopping')
        process.exit(1)
      }
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'serve'
  const rest = command === 'serve' && argv[0] !== 'serve' ? argv : argv.slice(1)
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      model: { type: 'string' },
      gpu: { type: 'string' },
      lora: { type: 'string' },
      'max-loras': { type: 'string' },
      'time-scale': { type: 'string' },
      'log-level': { type: 'string' },
      traffic: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const port = intOption(values.port, 'port')

  if (command === 'sim') {
    if (!values.model) fail('sim needs --model NAME')
    const logger = createLogger(values['log-level'] ?? 'info', LOG_FLUSH_MS)
    // the simulator (and its tokenizer) load only for the commands that use them
    const { startSim } = await simModule(() => import('./sim/server.js'))
    const sim = await startSim({
      model: values.model,
      gpu: values.gpu,
      loras: values.lora ? values.lora.split(',').map((s) => s.trim()).filter(Boolean) : [],
      maxLoras: intOption(values['max-loras'], 'max-loras'),
      host: values.host ?? '127.0.0.1',
      port: port ?? 8000,
      timeScale: values['time-scale'] ? Number(values['time-scale']) : 1
    })
    announce(logger, sim.url, `brixgate sim listening on ${sim.url} (model ${values.model})`)
    onSignals(logger, () => sim.close())
    return
  }

  if (command === 'demo') {
    const logger = createLogger(values['log-level'] ?? 'info', LOG_FLUSH_MS)
    const { startDemo } = await simModule(() => import('./demo.js'))
    const traffic = values.traffic === undefined ? 2 : Number(values.traffic)
    if (!Number.isFinite(traffic) || traffic < 0 || traffic > 50) fail(`--traffic must be a number of requests per second from 0 to 50, got "${values.traffic}"`)
    const demo = await startDemo({ port: port ?? 8888, host: values.host ?? '127.0.0.1', logger, trafficPerSecond: traffic })
    announce(logger, demo.url, `brixgate demo listening on ${demo.url} (3 simulated pods: l4, a100, h100); status page: ${demo.url}/ui`)
    onSignals(logger, () => demo.close())
    return
  }

  if (command !== 'serve') fail(`unknown command "${command}"\n${USAGE}`)
  const file = values.config ?? process.env.BRIXGATE_CONFIG
  if (!file) fail(`no config file: pass --config FILE or set BRIXGATE_CONFIG (or try "brixgate demo")\n${USAGE}`)
  const overrides = (c: Config) => {
    if (values.host) c.server.host = values.host
    if (port !== undefined) c.server.port = port
  }
  const config = loadConfigFile(file)
  overrides(config)
  const logger = createLogger(values['log-level'] ?? config.server.logLevel, config.server.logFlushMs)
  const gateway = await createGateway(config, { logger, defaultMetrics: true, configSource: file })
  const url = await gateway.listen()
  announce(logger, url, `brixgate listening on ${url}`)
  // SIGHUP reloads the file; server.watchConfig reloads it when it changes
  const reloader = new ConfigReloader(file, gateway, logger, overrides).onSignal()
  if (config.server.watchConfig) reloader.watch()
  onSignals(logger, () => {
    reloader.stop()
    return gateway.close()
  })
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message)
  if ((err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`${(err as Error).message}\n${USAGE}`)
  fail((err as Error).stack ?? String(err))
})

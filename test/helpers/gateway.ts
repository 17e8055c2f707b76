import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../../src/config/load.js'
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway.js'
import { silentLogger } from '../../src/observability/logger.js'
import { tempDir } from './temp-dir.js'

export const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url))

/** A gateway in this process on an ephemeral port. */
export async function startGateway(raw: Record<string, unknown>, opts: Partial<GatewayOptions> = {}): Promise<{ gateway: Gateway; url: string; close: () => Promise<void> }> {
  const withPort = { ...raw, server: { host: '127.0.0.1', port: 0, ...(raw.server as object) } }
  const gateway = await createGateway(parseConfig(withPort, 'test'), { logger: silentLogger, ...opts })
  const url = await gateway.listen()
  return { gateway, url, close: async () => void (await gateway.close()) }
}

export function writeConfig(config: unknown, ext = 'yaml'): string {
  const dir = tempDir('brixgate-test-')
  const file = join(dir, `config.${ext}`)
  writeFileSync(file, ext === 'json' ? JSON.stringify(config) : toYaml(config))
  return file
}

// JSON is valid YAML; keeps the helper free of a YAML writer.
const toYaml = (config: unknown) => JSON.stringify(config, null, 2)

export interface CliProcess {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Spawns the built CLI and resolves once it logs its listening URL. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`CLI did not start: ${out}${err}`))
    }, 15_000)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({
          child,
          url: m[1],
          stdout: () => out,
          stderr: () => err,
          exited,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null) child.kill(signal)
            return exited
          }
        })
      }
    })
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`CLI exited with ${code} before listening:\n${out}\n${err}`))
    })
  })
}

/** Runs the CLI to completion (for start-up failures). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

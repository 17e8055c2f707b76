import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { configSchema, type Config } from './schema.js'

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** "server.port: expected number, received string" — one line per problem. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)'
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length > 0 ? `${path}.` : ''
      return issue.keys.map((k) => `${where}${k}: unknown key`).join('\n')
    }
    return `${path}: ${issue.message}`
  })
}

/**
 * Replaces `${NAME}` in every string of the parsed file with the environment variable NAME, so
 * secrets (API keys, the Redis URL) can come from the environment (a Kubernetes Secret).
 */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, source: string, path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name]
      if (v === undefined) throw new ConfigError(`${source}: invalid configuration\n  ${path.join('.') || '(top level)'}: environment variable ${name} is not set`)
      return v
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, source, [...path, i]))
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, source, [...path, k])]))
  }
  return value
}

export function parseConfig(raw: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(expandEnv(raw ?? {}, env, source))
  if (!result.success) {
    throw new ConfigError(`${source}: invalid configuration\n  ${describeIssues(result.error).join('\n  ')}`)
  }
  return result.data
}

/** Reads a YAML or JSON file (JSON is YAML, so one parser serves both). */
export function loadConfigFile(file: string): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML/JSON: ${(err as Error).message}`)
  }
  return parseConfig(raw, file)
}

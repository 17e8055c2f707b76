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

export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw ?? {})
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

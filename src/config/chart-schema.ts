import { z } from 'zod'
import { configSchema } from './schema.js'

/**
 * The Helm chart's values.schema.json: the chart's own keys (each typed from its default in
 * values.yaml, unknown ones refused) and `config`, the gateway's configuration, generated from the
 * same zod schema the gateway validates with — so the chart and the gateway cannot drift apart.
 */
export function chartValuesSchema(values: Record<string, unknown>): Record<string, unknown> {
  const properties: Record<string, unknown> = { global: { type: 'object' } }
  for (const [key, value] of Object.entries(values)) properties[key] = key === 'config' ? configJsonSchema() : typeOf(value)
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'brixgate chart values', type: 'object', additionalProperties: false, properties }
}

function configJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>
  delete s.$schema
  return { ...s, description: 'The gateway configuration (docs/configuration.md); ${NAME} strings are expanded from the environment at start-up.' }
}

/** A loose schema from a default value: nested chart objects keep their keys (typos in them are refused). */
function typeOf(value: unknown): Record<string, unknown> {
  if (Array.isArray(value)) return { type: 'array' }
  if (value === null) return {}
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    // free-form maps (annotations, selectors, resources) are empty or hold user keys
    if (entries.length === 0) return { type: 'object' }
    return { type: 'object', properties: Object.fromEntries(entries.map(([k, v]) => [k, typeOf(v)])) }
  }
  if (typeof value === 'number') return { type: Number.isInteger(value) ? 'integer' : 'number' }
  return { type: typeof value }
}

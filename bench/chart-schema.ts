/** npm run chart:schema — writes charts/brixgate/values.schema.json from values.yaml and the config schema. */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { chartValuesSchema } from '../src/config/chart-schema.js'

const chart = fileURLToPath(new URL('../../charts/brixgate/', import.meta.url))
const values = parse(readFileSync(`${chart}values.yaml`, 'utf8')) as Record<string, unknown>
writeFileSync(`${chart}values.schema.json`, JSON.stringify(chartValuesSchema(values), null, 2) + '\n')
console.log('wrote charts/brixgate/values.schema.json')

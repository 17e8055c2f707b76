import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The gateway image carries the gateway only: the simulator's tokenizer stays out of it.
const root = fileURLToPath(new URL('../../', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string>>

const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))

t.test('gpt-tokenizer is optional, imported only by the simulator, and omitted from the image', async (t) => {
  t.notOk(pkg.dependencies['gpt-tokenizer'])
  t.ok(pkg.optionalDependencies['gpt-tokenizer'])
  const importers = files(join(root, 'src')).filter((f) => f.endsWith('.ts') && readFileSync(f, 'utf8').includes("from 'gpt-tokenizer'"))
  t.same(importers.map((f) => f.slice(root.length)), ['src/sim/text.ts'])
  const runtime = readFileSync(join(root, 'Dockerfile'), 'utf8').split(/^FROM /m).pop() ?? ''
  t.match(runtime, /npm ci --omit=dev --omit=optional/)
})

t.test('the status page ships: ui/ in the npm package and the image, its libraries as runtime dependencies', async (t) => {
  t.ok((pkg.files as unknown as string[]).includes('ui'))
  const runtime = readFileSync(join(root, 'Dockerfile'), 'utf8').split(/^FROM /m).pop() ?? ''
  t.match(runtime, /^COPY ui \.\/ui$/m)
  for (const lib of ['htm', 'uplot']) t.ok(pkg.dependencies[lib], `${lib} is a dependency`)
})

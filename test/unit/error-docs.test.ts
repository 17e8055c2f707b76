import { readFileSync } from 'node:fs'
import t from 'tap'
import { catalogue } from '../../src/errors/catalogue.js'

// As fastify's errors.test.js: the docs table and the catalogue cannot drift apart.
t.test('docs/errors.md lists every catalogue kind, and no kind that does not exist', async (t) => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const documented = new Set<string>()
  for (const line of doc.split('\n')) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1]
    if (!first) continue
    for (const m of first.matchAll(/`([a-z_]+)`/g)) documented.add(m[1])
  }
  const kinds = Object.keys(catalogue)
  t.same(kinds.filter((k) => !documented.has(k)), [], 'kinds missing from docs/errors.md')
  t.same([...documented].filter((k) => !kinds.includes(k)), [], 'kinds in docs/errors.md that do not exist')
})

/* global process, console */
// npm start: build only when a source file is newer than the build (a fresh clone builds once, ~10 s;
// later starts take well under a second).
import { execSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const newest = (dir) => {
  let t = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}
let built = 0
try {
  built = statSync('dist/src/cli.js').mtimeMs
} catch {
  built = 0
}
const sources = Math.max(newest('src'), newest('bench'), statSync('package.json').mtimeMs, statSync('tsconfig.json').mtimeMs)
if (sources > built) {
  console.log('building (sources changed since the last build)…')
  execSync('npm run build', { stdio: 'inherit' })
}
process.exit(0)

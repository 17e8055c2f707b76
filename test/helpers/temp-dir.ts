import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const made: string[] = []

/** A fresh folder under the OS temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  if (made.length === 0) process.once('exit', () => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })))
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

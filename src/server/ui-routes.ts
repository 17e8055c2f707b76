import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors/catalogue.js'
import type { StatusSnapshot } from '../observability/status-snapshot.js'
import { adminTokenCheck } from './admin-auth.js'
import { sendGatewayError } from './errors.js'

interface Asset {
  type: string
  body: Buffer
}

/** The repository's ui/ folder, from src/server (tests) or dist/src/server (built). */
function uiDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'ui', 'index.html'))) return join(dir, 'ui')
    dir = dirname(dir)
  }
  throw new Error('the status page files (ui/) are missing from the package')
}

/** Read once at start: the page, its script and the two libraries it uses, served from node_modules. */
function loadAssets(): Map<string, Asset> {
  const ui = uiDir()
  const require = createRequire(import.meta.url)
  const js = 'text/javascript; charset=utf-8'
  const files: [string, string, string][] = [
    ['/ui', join(ui, 'index.html'), 'text/html; charset=utf-8'],
    ['/ui/app.js', join(ui, 'app.js'), js],
    ['/ui/style.css', join(ui, 'style.css'), 'text/css; charset=utf-8'],
    // htm's package root from its main file: its exports map hides the standalone build's path
    ['/ui/vendor/preact-htm.mjs', join(dirname(dirname(require.resolve('htm'))), 'preact', 'standalone.mjs'), js],
    ['/ui/vendor/uplot.mjs', require.resolve('uplot/dist/uPlot.esm.js'), js],
    ['/ui/vendor/uplot.css', require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8']
  ]
  return new Map(files.map(([path, file, type]) => [path, { type, body: readFileSync(file) }]))
}

export interface UiOptions {
  /** The admin token; when set, /ui and /admin/status need it (Bearer, or Basic with it as password). */
  adminToken?: string
  status: () => StatusSnapshot
}

/** GET /ui (the status page) and GET /admin/status (its JSON, documented in docs/operations.md). */
export function registerUiRoutes(app: FastifyInstance, opts: UiOptions): string[] {
  const assets = loadAssets()
  const authorized = opts.adminToken ? adminTokenCheck(opts.adminToken) : () => true
  const guard = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (authorized(req.headers.authorization)) return true
    // a browser shows its login box: any user name, the admin token as password
    void sendGatewayError(reply.header('www-authenticate', 'Basic realm="brixgate", charset="UTF-8"'), new GatewayError('admin_unauthorized'))
    return false
  }
  const paths = [...assets.keys(), '/ui/', '/admin/status']
  for (const path of assets.keys()) {
    const asset = assets.get(path)!
    const serve = async (req: FastifyRequest, reply: FastifyReply) => {
      if (!guard(req, reply)) return reply
      return reply.header('content-type', asset.type).header('cache-control', 'no-cache').send(asset.body)
    }
    app.get(path, serve)
    if (path === '/ui') app.get('/ui/', serve)
  }
  app.get('/admin/status', async (req, reply) => {
    if (!guard(req, reply)) return reply
    return reply.header('cache-control', 'no-store').send(opts.status())
  })
  return paths
}

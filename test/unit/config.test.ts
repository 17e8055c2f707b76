import t from 'tap'
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js'
import { writeConfig } from '../helpers/gateway.js'

const discovery = { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:8000'] }] } }

t.test('defaults match SPEC §2', async (t) => {
  const c = parseConfig({ discovery })
  t.same(c.server, { host: '0.0.0.0', port: 8888, bodyLimitBytes: 8388608, requestTimeoutMs: 1800000, streamIdleTimeoutMs: 300000, shutdownGraceMs: 30000, bodyTimeoutMs: 30000, maxConnectionsPerClient: 0, logLevel: 'info', accessLog: true, logFlushMs: 100, watchConfig: false })
  t.same(c.upstream, { firstByteTimeoutMs: 30000, retry: { attempts: 2, budgetPercent: 20 }, outlier: { consecutiveFailures: 3, baseEjectionMs: 5000, maxEjectionPercent: 50, hangSeconds: 20 }, keepAliveSeconds: 0, maxInflightPerPod: 0 }, 'SPEC §11 defaults')
  t.same(c.routing.prefixCache, { blockSize: 128, imbalanceAbsCount: 16, stdDevFactor: 2, maxBlocks: 200000, ttlMinutes: 20, exactTokens: false, tokenizeTimeoutMs: 200 }, 'SPEC keys, plus the opt-in exact-token mode off')
  t.equal(c.routing.defaultStrategy, 'random')
  t.equal(c.tracing, undefined, 'tracing is off unless configured')
  t.match(c.rateLimit, { store: 'memory', onStoreError: 'open', unknownUser: 'reject', defaultLimits: { rpm: 100, tpm: 100000 } })
})

t.test('the SPEC example file parses (YAML)', async (t) => {
  const file = writeConfig({})
  const yaml = `
server:   { host: 0.0.0.0, port: 8888, bodyLimitBytes: 8388608,
            requestTimeoutMs: 1800000, streamIdleTimeoutMs: 300000, shutdownGraceMs: 30000 }
discovery:
  static:
    models:
      - name: llama-3-8b
        endpoints:
          - 127.0.0.1:8001
          - { address: 127.0.0.1:8002, name: pod-b, labels: { gpu: h100 } }
        adapters: [sql-lora]
        requestsPerSecond: 50
routing:
  defaultStrategy: random
  explain: false
  prefixCache: { blockSize: 128, imbalanceAbsCount: 16, stdDevFactor: 2, maxBlocks: 200000, ttlMinutes: 20 }
rateLimit:
  store: memory
  redis: { url: redis://127.0.0.1:6379 }
  onStoreError: open
  unknownUser: reject
  defaultLimits: { rpm: 100, tpm: 100000 }
  users: [ { name: alice, rpm: 60, tpm: 100000 } ]
auth:
  apiKeys: [ { key: sk-alice-secret, user: alice } ]
  upstreamApiKey: pod-key
admin: { token: admin-secret }
`
  const { writeFileSync } = await import('node:fs')
  writeFileSync(file, yaml)
  const c = loadConfigFile(file)
  t.equal(c.discovery.static?.models[0].endpoints.length, 2)
  t.equal(c.rateLimit.users[0].name, 'alice')
})

t.test('errors name the key path', async (t) => {
  const msg = (raw: unknown) => {
    try {
      parseConfig(raw, 'f.yaml')
      return ''
    } catch (e) {
      t.ok(e instanceof ConfigError)
      return (e as Error).message
    }
  }
  t.match(msg({ discovery, extra: 1 }), /^f\.yaml: invalid configuration\n {2}extra: unknown key/)
  t.match(msg({ discovery, rateLimit: { store: 'etcd' } }), /rateLimit\.store: /)
  t.match(msg({ discovery, auth: { apiKeys: [{ keySha256: 'xyz', user: 'a' }] } }), /auth\.apiKeys\.0/)
  t.match(msg({}), /discovery: /)
  t.match(msg({ discovery, routing: { prefixCache: { blockSize: 130 } } }), /routing\.prefixCache\.blockSize: must be a multiple of 4/)
})

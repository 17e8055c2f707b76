// The status page: polls GET /admin/status and renders it with Preact (htm templates) and uPlot
// charts. Both are served by the gateway itself, so the page works offline.
import { html, render, useEffect, useRef, useState } from 'preact-htm'
import uPlot from 'uplot'

const POLL_MS = 2000
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#db2777']

const pct = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100)}%`)
const num = (v, digits = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits))
const time = (ms) => new Date(ms).toLocaleTimeString()
const ago = (s) => (s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`)

function usePolledStatus() {
  const [state, setState] = useState({ status: null, error: null, at: 0 })
  useEffect(() => {
    let stopped = false
    let timer
    const poll = async () => {
      try {
        const res = await fetch('/admin/status', { headers: { accept: 'application/json' }, cache: 'no-store' })
        if (!res.ok) throw new Error(`GET /admin/status answered ${res.status}`)
        const status = await res.json()
        if (!stopped) setState({ status, error: null, at: Date.now() })
      } catch (err) {
        if (!stopped) setState((s) => ({ ...s, error: String(err.message ?? err) }))
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS)
    }
    poll()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [])
  return state
}

function StateBadge({ pod }) {
  const label = pod.state === 'ejected' ? `ejected: ${pod.ejectedReason}${pod.ejectedForMs ? ` (${Math.ceil(pod.ejectedForMs / 1000)} s)` : ', probing'}` : pod.state
  return html`<span class="badge ${pod.state}" title=${pod.state === 'ejected' ? 'outlier detection took the pod out of rotation; it returns after its /health answers' : ''}>${label}</span>`
}

function PodsTable({ model }) {
  return html`<section data-model=${model.name}>
    <h2>${model.name}<small>${model.pods.filter((p) => p.routable).length} of ${model.pods.length} pods routable${model.adapters.length ? ` · adapters: ${model.adapters.join(', ')}` : ''}</small></h2>
    <table>
      <thead><tr>
        <th>pod</th><th>gpu</th><th>state</th><th class="num">in flight</th><th class="num">running</th><th class="num">waiting</th>
        <th class="num">KV use</th><th class="num">prefix hits</th><th class="num">TTFT ms</th><th class="num">TPOT ms</th><th class="num">tokens/s</th>
      </tr></thead>
      <tbody>${model.pods.map((p) => html`<tr data-pod=${p.name}>
        <td title=${p.address}>${p.name}</td><td>${p.gpu ?? '–'}</td><td><${StateBadge} pod=${p} /></td>
        <td class="num">${p.inflight}</td><td class="num">${num(p.running)}</td><td class="num">${num(p.waiting)}</td>
        <td class="num">${pct(p.kvCacheUsage)}</td><td class="num">${pct(p.prefixHitRate)}</td>
        <td class="num" title=${p.measured ? 'measured by the gateway' : 'seed value for this GPU until measured'}>${num(p.ttftMs, 0)}${p.measured ? '' : '*'}</td>
        <td class="num">${num(p.tpotMs, 1)}${p.measured ? '' : '*'}</td><td class="num">${num(p.tokensPerSecond, 0)}</td>
      </tr>`)}</tbody>
    </table>
    ${model.pods.some((p) => !p.measured) ? html`<p class="muted">* not measured yet: the GPU's seed value, until the pod has answered.</p>` : null}
  </section>`
}

/** A uPlot line chart of one value per pod over the last minutes. */
function PodChart({ title, series, pick, unit }) {
  const box = useRef(null)
  const plot = useRef(null)
  const pods = Object.keys(series).sort()
  const key = pods.join('|')
  useEffect(() => {
    if (!box.current || pods.length === 0) return
    const opts = {
      title,
      width: Math.max(360, box.current.clientWidth - 8),
      height: 200,
      series: [{}, ...pods.map((p, i) => ({ label: p, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }))],
      axes: [{}, { label: unit, size: 60 }],
      scales: { x: { time: true } }
    }
    plot.current = new uPlot(opts, data(), box.current)
    return () => {
      plot.current?.destroy()
      plot.current = null
    }
  }, [key])
  const data = () => {
    const first = series[pods[0]] ?? []
    return [first.map((p) => p.t / 1000), ...pods.map((pod) => series[pod].map(pick))]
  }
  useEffect(() => {
    if (plot.current && pods.length > 0) plot.current.setData(data())
  })
  return html`<div class="chart" ref=${box}>${pods.length === 0 ? html`<p class="muted">${title}: no requests in the last minutes.</p>` : null}</div>`
}

function Decisions({ decisions }) {
  return html`<section id="decisions">
    <h2>Last routing decisions<small>newest first</small></h2>
    ${decisions.length === 0
      ? html`<p class="muted">No requests yet. Send one: <code>curl ${location.origin}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"…","messages":[{"role":"user","content":"hi"}]}'</code></p>`
      : html`<table>
      <thead><tr><th>time</th><th>request</th><th>model</th><th>user</th><th>strategy</th><th>pod</th><th>reason</th><th class="num">status</th><th class="num">ms</th><th class="num">tokens</th></tr></thead>
      <tbody>${decisions.slice(0, 20).map((d) => html`<tr data-request-id=${d.requestId}>
        <td>${time(d.at)}</td><td title=${d.requestId}>${d.requestId.slice(0, 12)}</td><td>${d.model}</td><td>${d.user ?? '–'}</td>
        <td>${d.strategy}</td><td>${d.pod ?? '–'}${d.retries ? html` <span class="muted">(${d.retries} retr${d.retries > 1 ? 'ies' : 'y'})</span>` : ''}</td>
        <td class="reason" title=${d.reason ?? ''}>${d.reason ?? '–'}</td>
        <td class="num status-${String(d.status)[0]}">${d.status}</td><td class="num">${num(d.ms, 1)}</td><td class="num">${num(d.tokens)}</td>
      </tr>`)}</tbody></table>`}
  </section>`
}

function Bar({ used, limit }) {
  const share = limit > 0 ? Math.min(1, used / limit) : 0
  return html`<span class="bar ${share > 0.9 ? 'hot' : ''}"><span style=${`width:${share * 100}%`}></span></span>${used} / ${limit}`
}

function Users({ users }) {
  const names = Object.keys(users)
  return html`<section id="users">
    <h2>Per-user limits<small>the last window seen by this replica, users active in the last minute</small></h2>
    ${names.length === 0
      ? html`<p class="muted">No limited user sent a request in the last minute.</p>`
      : html`<table><thead><tr><th>user</th><th>requests / min (RPM)</th><th>tokens / min (TPM)</th><th>as of</th></tr></thead>
      <tbody>${names.map((n) => html`<tr data-user=${n}><td>${n}</td><td><${Bar} used=${users[n].requests} limit=${users[n].rpm} /></td>
        <td><${Bar} used=${users[n].tokens} limit=${users[n].tpm} /></td><td>${time(users[n].at)}</td></tr>`)}</tbody></table>`}
  </section>`
}

function Admission({ queue }) {
  if (queue === null || queue === undefined) return null
  const waiting = queue.filter((q) => q.waiting > 0)
  return html`<section id="admission">
    <h2>Admission queue<small>requests waiting in this replica for a free pod slot, per model and band</small></h2>
    ${waiting.length === 0
      ? html`<p class="muted">Nobody is waiting: every model's pods have room.</p>`
      : html`<table><thead><tr><th>model</th><th>band</th><th>waiting</th></tr></thead>
      <tbody>${waiting.map((q) => html`<tr data-queue=${`${q.model}/${q.band}`}><td>${q.model}</td><td>${q.band}</td><td>${q.waiting}</td></tr>`)}</tbody></table>`}
  </section>`
}

function App() {
  const { status, error, at } = usePolledStatus()
  if (!status) return html`<p class="muted">${error ?? 'Loading the gateway\'s status…'}</p>`
  const stale = error !== null
  return html`
    <header>
      <h1>brixgate</h1>
      <div class="facts">
        <span>config generation <b id="generation">${status.config.generation}</b> (${status.config.source})</span>
        <span>default strategy <b>${status.config.defaultStrategy}</b></span>
        <span>up ${ago(status.uptimeSeconds)}</span>
        <span>discovery ${status.discoverySynced ? 'synced' : 'not synced yet'}</span>
      </div>
      <span class="live" title=${error ?? ''}><span class="dot ${stale ? 'stale' : ''}"></span>${stale ? `not updating: ${error}` : `live · ${time(at)}`}</span>
    </header>
    <main>
      ${status.models.length === 0 ? html`<section><p class="muted">No pods discovered yet.</p></section>` : status.models.map((m) => html`<${PodsTable} model=${m} />`)}
      <section><h2>Per pod, last 5 minutes<small>5 s buckets</small></h2>
        <div class="charts">
          <${PodChart} title="requests per 5 s" unit="requests" series=${status.series} pick=${(p) => p.requests} />
          <${PodChart} title="time to first byte" unit="ms" series=${status.series} pick=${(p) => p.ttftMs} />
        </div>
      </section>
      <${Admission} queue=${status.admission} />
      <${Decisions} decisions=${status.decisions} />
      <${Users} users=${status.users} />
    </main>`
}

render(html`<${App} />`, document.getElementById('app'))

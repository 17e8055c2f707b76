import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

/**
 * Loaded with `node --import` into a process under test (bench/allocations.ts, bench/profile.ts):
 * the first SIGUSR2 starts one of V8's profilers, the second writes its profile to
 * $V8_SAMPLE_FILE and stops it, so a benchmark records only the load it chose (after warm-up).
 *
 * $V8_SAMPLE=heap: the sampling heap profiler, counting objects the garbage collector has already
 * taken back too (it measures everything allocated, not what is still alive).
 * $V8_SAMPLE=cpu: the CPU profiler `node --cpu-prof` drives, same .cpuprofile format.
 */
const file = process.env.V8_SAMPLE_FILE
const kind = process.env.V8_SAMPLE === 'cpu' ? 'cpu' : 'heap'
const session = new Session()
session.connect()
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))))

const start =
  kind === 'cpu'
    ? () => post('Profiler.enable').then(() => post('Profiler.setSamplingInterval', { interval: 100 })).then(() => post('Profiler.start'))
    : () =>
        post('HeapProfiler.enable').then(() =>
          post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
        )
const stop = () => post(kind === 'cpu' ? 'Profiler.stop' : 'HeapProfiler.stopSampling')

let sampling = false
process.on('SIGUSR2', () => {
  sampling = !sampling
  const step = sampling
    ? start()
    : stop().then((result) => {
        if (file) writeFileSync(file, JSON.stringify((result as { profile: unknown }).profile))
      })
  step.catch((err: unknown) => console.error('v8 sampler:', err))
})

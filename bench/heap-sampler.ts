import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

/**
 * Loaded with `node --import` into a process under test (bench/allocations.ts): the first SIGUSR2
 * starts V8's sampling heap profiler, counting objects the garbage collector has already taken back
 * too (so it measures everything allocated, not what is still alive); the second writes the profile
 * to $HEAP_SAMPLE_FILE and stops it.
 */
const file = process.env.HEAP_SAMPLE_FILE
const session = new Session()
session.connect()
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))))

let sampling = false
process.on('SIGUSR2', () => {
  sampling = !sampling
  const step = sampling
    ? post('HeapProfiler.enable').then(() =>
        post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      )
    : post('HeapProfiler.stopSampling').then((result) => {
        if (file) writeFileSync(file, JSON.stringify((result as { profile: unknown }).profile))
      })
  step.catch((err: unknown) => console.error('heap sampler:', err))
})

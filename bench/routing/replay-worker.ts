/** Worker thread of the routing benchmark: replays one run per message (see replay.ts). */
import { parentPort } from 'node:worker_threads'
import { replay, type ReplayOptions } from './replay.js'

parentPort!.on('message', (o: ReplayOptions) => {
  replay(o).then(
    (result) => parentPort!.postMessage({ result }),
    (err: unknown) => parentPort!.postMessage({ error: String(err) })
  )
})

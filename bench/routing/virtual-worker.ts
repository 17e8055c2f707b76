/** Worker thread of the routing benchmark's virtual mode: one in-process run per message (see virtual-replay.ts). */
import { parentPort } from 'node:worker_threads'
import { replayVirtual, type VirtualReplayOptions } from './virtual-replay.js'

parentPort!.on('message', (o: VirtualReplayOptions) => {
  replayVirtual(o).then(
    (result) => parentPort!.postMessage({ result }),
    (err: unknown) => parentPort!.postMessage({ error: String(err) })
  )
})

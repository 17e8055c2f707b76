import t from 'tap'
import { AbortFlag } from '../../src/pipeline/abort-flag.js'

t.test('abort flag: listeners run once when raised; off removes one; none run after', async (t) => {
  const flag = new AbortFlag()
  const calls: string[] = []
  const a = () => calls.push('a')
  const b = () => calls.push('b')
  flag.once('abort', a)
  flag.once('abort', b)
  flag.once('abort', a)
  flag.off('abort', a)
  t.equal(flag.listenerCount('abort'), 2)
  t.notOk(flag.aborted)
  flag.abort()
  flag.abort()
  t.ok(flag.aborted)
  t.same(calls, ['b', 'a'], 'each listener added once, in order, one removed; a second abort() runs nothing')
  t.equal(flag.listenerCount('abort'), 0, 'listeners are dropped once run')
  flag.once('abort', a)
  t.equal(flag.listenerCount('abort'), 0, 'a listener added after the flag was raised is never kept')
  flag.off('abort', b)
})

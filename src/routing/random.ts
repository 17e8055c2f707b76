import type { Strategy } from './strategy.js'

export const randomStrategy: Strategy = {
  name: 'random',
  pick({ pods, random }) {
    const pod = pods[Math.floor(random() * pods.length)]
    return pod && { pod, reason: `random of ${pods.length}` }
  }
}

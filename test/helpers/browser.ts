import { existsSync } from 'node:fs'
import type { Browser } from 'playwright-core'

export const CHROMIUM = process.env.BRIXGATE_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Debian's Chromium driven by playwright-core, or undefined when it is not installed here.
 * Under CI (CI=true) a missing browser is a failure, not a skip: .ci/run installs it.
 */
export async function launchBrowser(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`${CHROMIUM} is missing: the status-page test needs Debian's chromium (apt-get install chromium)`)
    return undefined
  }
  const { chromium } = await import('playwright-core')
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
}

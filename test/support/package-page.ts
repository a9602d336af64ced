// Opening a consumer app's page in headless Chromium and reading what it wrote into
// <pre id="out" data-state="running|done|error">.
import type { Browser } from 'puppeteer-core';

export interface TinyResult {
  note: string;
  losses: number[];
  sparsity: number[];
}

/** Load `url`, wait for the page to finish, and return its result; throws with the page's words and console on error. */
export async function pageResult(browser: Browser, url: string, timeoutMs = 90_000): Promise<TinyResult> {
  const page = await browser.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${(e as Error).message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  try {
    await page.goto(url, { waitUntil: 'load' });
    try {
      await page.waitForSelector('#out:not([data-state="running"])', { timeout: timeoutMs });
    } catch {
      throw new Error(`${url} did not finish in ${timeoutMs / 1000} s; console:\n${log.join('\n')}`);
    }
    const [state, text] = await page.$eval('#out', (el) => [(el as HTMLElement).dataset.state ?? '', el.textContent ?? ''] as const);
    if (state !== 'done') throw new Error(`${url} failed: ${text}\nconsole:\n${log.join('\n')}`);
    return JSON.parse(text) as TinyResult;
  } finally {
    await page.close();
  }
}

// Makes docs/demo.png: builds the page, trains two configurations side by side in headless
// Chromium (its WebGPU adapter: SwiftShader where there is no GPU) and screenshots the page.
//   npx tsx demo/screenshot.ts [out.png] [query]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, serveDirectory } from '../bench/chromium.ts';

const out = process.argv[2] ?? 'docs/demo.png';
const query =
  process.argv[3] ?? 'A.hidden=256,256&A.batch=64&A.trainExamples=10000&A.testExamples=10000&A.epochs=4&compare=1&preset=tanh&autostart=1&weights=change';
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-shot-'));
const built = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--outDir', dir, '--emptyOutDir', '--logLevel', 'warn'], {
  stdio: 'inherit',
});
if (built.status !== 0) throw new Error('vite build failed');
const site = await serveDirectory(dir);
const chrome = await launchChromium();
try {
  const page = await chrome.browser.newPage();
  await page.goto(`${site.url}?${query}`);
  type Snap = { running: boolean; runs: { id: string; step: number; state: string; error: string | null }[] };
  const snap = () => page.evaluate(() => (window as unknown as { rectigradDemo: { snapshot(): Snap } }).rectigradDemo.snapshot());
  // Until every run has finished its epochs (or 15 minutes).
  const end = Date.now() + 15 * 60_000;
  for (let s = await snap(); ; s = await snap()) {
    if (s.runs.length && s.runs.every((r) => r.state === 'done' || r.state === 'error')) break;
    if (Date.now() > end) break;
    process.stderr.write(`\r${s.runs.map((r) => `${r.id}: step ${r.step}`).join('  ')}   `);
    await new Promise((r) => setTimeout(r, 2000));
  }
  await new Promise((r) => setTimeout(r, 1000));
  writeFileSync(out, await page.screenshot({ fullPage: true }));
  console.error(`\nwrote ${out}`);
} finally {
  await chrome.close();
  await site.close();
  rmSync(dir, { recursive: true, force: true });
}

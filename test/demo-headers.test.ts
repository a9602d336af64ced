// The demo's Vite servers (dev and preview) send the cross-origin isolation headers, so the
// page gets SharedArrayBuffer and the CPU backend's matmuls run on several threads.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startVite } from './support/chromium.ts';

const work = mkdtempSync(join(tmpdir(), 'rectigrad-demo-headers-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const isolation = (h: Headers) => ({ coop: h.get('cross-origin-opener-policy'), coep: h.get('cross-origin-embedder-policy') });
const ISOLATED = { coop: 'same-origin', coep: 'require-corp' };

describe('demo servers', () => {
  it('vite (dev) sends COOP/COEP with the page and its modules', async () => {
    const dev = await startVite({ mode: 'dev' });
    try {
      const page = await fetch(dev.url);
      expect(await page.text()).toContain('rectigrad');
      expect(isolation(page.headers)).toEqual(ISOLATED);
      // The training worker's module must carry them too, or an isolated page refuses it.
      const mod = await fetch(`${dev.url}main.ts`);
      expect(mod.status).toBe(200);
      expect(isolation(mod.headers)).toEqual(ISOLATED);
    } finally {
      await dev.close();
    }
  });

  it('vite preview sends COOP/COEP with a built page', async () => {
    // A stand-in for the build: the headers are the server's, whatever it serves.
    writeFileSync(join(work, 'index.html'), '<!doctype html><title>rectigrad</title>');
    const preview = await startVite({ mode: 'preview', args: ['--outDir', work] });
    try {
      const page = await fetch(preview.url);
      expect(page.status).toBe(200);
      expect(isolation(page.headers)).toEqual(ISOLATED);
    } finally {
      await preview.close();
    }
  });
});

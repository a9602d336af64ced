// `rectigrad experiment dead-units --quick` on real MNIST: every part runs and reports;
// killed mid-run and run again, it keeps what was finished and redoes only the rest.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const args = (out: string) => ['bin/rectigrad.js', 'experiment', 'dead-units', '--quick', '--backend', 'cpu', '--out', out];
const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

describe('rectigrad experiment dead-units --quick', () => {
  it('killed mid-run, resumes without redoing finished runs, and reports every part', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rectigrad-dead-'));
    // Killed once E0 and the first two cells of E1 are saved, while the third trains.
    await new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, args(out), { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        if (/e1-relu-momentum-0\.3: running/.test(err)) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? done() : fail(new Error(`not killed (exit ${code}): ${err}`))));
    });
    const progress = join(out, 'progress');
    const kept = snapshot(progress);
    expect(Object.keys(kept).sort()).toEqual(
      ['e0-glorot-w2', 'e0-glorot-w8', 'e0-he-w2', 'e0-he-w8', 'e1-relu-momentum-0.03', 'e1-relu-momentum-0.1'].map((k) => `${k}.json`).sort(),
    );
    // The report written so far says it is not finished.
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\*\*not finished\*\*: missing E1 \(2 of 20 runs\), E2 \(0 of 4\)/);

    const { stderr } = await run(process.execPath, args(out), { timeout: 240_000 });
    expect(stderr).toMatch(/resuming: 6 finished runs in .* kept, not redone/);
    expect(stderr).not.toMatch(/e0-glorot-w2: running/);
    expect(stderr).not.toMatch(/e1-relu-momentum-0\.1: running/);
    expect(stderr).toMatch(/e1-relu-momentum-0\.3: running/);
    expect(stderr).toMatch(/e4-momentum-0\.03-continual-revival: running/);
    // What was saved before the kill is what the report uses, untouched.
    const after = snapshot(progress);
    for (const [f, text] of Object.entries(kept)) expect(after[f]).toBe(text);

    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(r.config.name).toBe('quick');
    expect(r.e0).toHaveLength(12);
    expect(r.e1).toHaveLength(20);
    expect(r.e2.runs.map((x: any) => x.spec.policy)).toEqual(['keep', 'revive', 'revive', 'prune']);
    expect(r.e3.map((x: any) => x.spec.policy)).toEqual(['keep', 'revive', 'prune']);
    expect(r.e4.map((x: any) => x.tasks.length)).toEqual([3, 3, 3, 3]);
    // Real behaviour: the pruned run ends narrower than it began, revival revived units.
    const pruned = r.e3[2];
    expect(pruned.final.widths.reduce((s: number, x: number) => s + x, 0)).toBeLessThan(96);
    expect(r.e2.runs[1].totals.revived.reduce((s: number, x: number) => s + x, 0)).toBeGreaterThan(0);
    // A network of width 2 and depth 8 is born dead for some seed; one of width 8 is dead at some image.
    expect(r.e0.find((c: any) => c.width === 2 && c.depth === 8 && c.init === 'he').bornDead).toBeGreaterThan(0);

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).not.toMatch(/not finished/);
    expect(md).toMatch(/`--quick` run/);
    expect(md).toMatch(/## E0 — born dead[\s\S]*\| glorot \| 2 \| [\d.]+% \(\d+\/20\) \|/);
    expect(md).toMatch(/## E1 — death map[\s\S]*\| relu \| momentum, lr 0\.03 \| [\d.]+% \|/);
    expect(md).toMatch(/## E2 — keep, revive or prune[\s\S]*\| revive τ=0\.025 \| \*\*[\d.]+%\*\* \|/);
    expect(md).toMatch(/## E3 — the paper's network[\s\S]*\| prune τ=0\.025 \| \*\*[\d.]+%\*\* \|/);
    expect(md).toMatch(/## E4 — non-stationary[\s\S]*\| momentum, lr 0\.03 \| continual revival \| [\d.]+% \|/);
    expect(md).toMatch(/- Command: `rectigrad experiment dead-units --quick --backend cpu --out /);
    expect(md).toMatch(/- Wall time: [\d.]+ min in all\n/);
    for (const f of ['e0-born-dead', 'e0-layers', 'e1-death-map', 'e1-dead-vs-error', 'e2-policies', 'e3-paper-network', 'e4-accuracy', 'e4-units']) {
      const svg = readFileSync(join(out, `${f}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(md).toContain(`(${f}.svg)`);
    }

    // Once more: nothing left to run.
    const third = await run(process.execPath, args(out), { timeout: 120_000 });
    expect(third.stderr).toMatch(/resuming: 35 finished runs/);
    expect(third.stderr).not.toMatch(/: running/);
  });

  it('refuses glorot2011 flags, and a --quick run into a full run’s directory', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rectigrad-dead-'));
    await expect(run(process.execPath, ['bin/rectigrad.js', 'experiment', 'dead-units', '--epochs', '3', '--out', out])).rejects.toMatchObject({
      stderr: expect.stringMatching(/--epochs applies to glorot2011 only: dead-units takes --out, --backend, --quick and --quiet/),
    });
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'experiment.json'), JSON.stringify({ experiment: 'dead-units', config: 'default', wallSeconds: 5 }));
    await expect(run(process.execPath, args(out))).rejects.toMatchObject({
      stderr: expect.stringMatching(/holds a full run of dead-units, not a --quick one: use another --out/),
    });
    expect(existsSync(join(out, 'progress'))).toBe(false);
    await expect(run(process.execPath, ['bin/rectigrad.js', 'experiment', 'glorot2011', '--quick', '--out', out])).rejects.toMatchObject({
      stderr: expect.stringMatching(/--quick applies to dead-units only/),
    });
  });
});

// Checkpoint saves survive being killed at any instant: a child process saves two
// different checkpoints in turn to one path and is SIGKILLed at a random moment, over and
// over; after every kill the file at the path is exactly one of the two, and loads.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCheckpoint } from '../src/io/checkpoint.ts';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.ts';
import { crashStates, rng } from './support/checkpoints.ts';

const ROUNDS = 200;
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-crash-'));
const child = join(dir, 'crash-saver.mjs');

// The child is bundled once (esbuild ships with tsx): it starts in ~0.1 s instead of the
// ~0.45 s tsx needs to start, which is what makes 200 kill rounds affordable.
beforeAll(async () => {
  await build({
    entryPoints: [fileURLToPath(new URL('./support/crash-saver.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: child,
    logLevel: 'error',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Starts a saver, waits for its first complete save, then `delay` ms more, and kills it.
 * Resolves to whether the kill landed inside a save (the last letter it wrote was "b").
 */
function killDuringSaves(path: string, delay: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let last = '';
    let armed = false;
    p.stderr.on('data', (d) => (err += d));
    p.stdout.on('data', (d: Buffer) => {
      last = d.toString().slice(-1);
      if (!armed && d.includes('e')) {
        armed = true;
        setTimeout(() => p.kill('SIGKILL'), delay);
      }
    });
    // 'close' comes after the pipe is drained, so `last` is the last letter written.
    p.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve(last === 'b') : reject(new Error(`saver exited with ${code}: ${err}`))));
  });
}

describe('checkpoint saves killed at random moments', () => {
  it(`leave the old or the new checkpoint, whole, in ${ROUNDS} of ${ROUNDS} kills`, async () => {
    const states = crashStates();
    const encoded = states.map((s) => Buffer.from(encodeCheckpoint(s)));
    const path = join(dir, 'ck.safetensors');
    const next = rng(2011);
    const seen = [0, 0];
    let inSave = 0;
    let tempLeft = 0;
    for (let round = 0; round < ROUNDS; round++) {
      if (await killDuringSaves(path, 5 + Math.floor(next() * 56))) inSave++;
      // A new temporary file left behind: the kill came between its creation and the rename.
      const temps = readdirSync(dir).filter((n) => n.startsWith('ck.safetensors.tmp-'));
      if (temps.length > tempLeft) tempLeft++;
      expect(temps).toHaveLength(tempLeft); // fresh ones are never removed by later saves
      const bytes = readFileSync(path);
      const which = encoded.findIndex((e) => e.equals(bytes));
      if (which < 0) throw new Error(`round ${round}: the checkpoint is neither the old nor the new one (${bytes.length} bytes)`);
      seen[which]++;
      const back = loadCheckpoint(path);
      expect(back.step).toBe(states[which].step);
      expect(back.model).toEqual(states[which].model);
    }
    console.log(
      `${ROUNDS} kills: ${inSave} inside a save, ${tempLeft} before its rename (temporary file left); the file was the first state ${seen[0]} times, the second ${seen[1]}`,
    );
    expect(seen[0]).toBeGreaterThan(ROUNDS / 10);
    expect(seen[1]).toBeGreaterThan(ROUNDS / 10);
    // Once they are old and their writers gone, the next save clears them away.
    const old = new Date(Date.now() - 3600_000);
    for (const t of readdirSync(dir).filter((n) => n.startsWith('ck.safetensors.tmp-'))) utimesSync(join(dir, t), old, old);
    saveCheckpoint(path, states[1]);
    expect(readdirSync(dir).filter((n) => n.startsWith('ck.safetensors'))).toEqual(['ck.safetensors']);
    // Most kills must land while a save is under way, or the test proves little (the rest
    // fall between two saves, or while the parent, woken by a pipe write, held the CPU).
    expect(inSave).toBeGreaterThan(0.75 * ROUNDS);
    expect(tempLeft).toBeGreaterThan(ROUNDS / 10);
  }, 300_000); // ~40 s on an idle 2-core machine; the margin is for a loaded one
});

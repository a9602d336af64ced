// `rectigrad train` checks where it will write before it loads data or trains: a bad
// --save or --json path is one line naming the flag and the fix, at once.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-paths-'));

async function fail(args: string[]): Promise<string> {
  const e = await cli(args).then(
    () => expect.unreachable('should have failed'),
    (err: { code: number; stderr: string }) => err,
  );
  expect(e.code).toBe(1);
  // One line, and nothing was loaded or trained first (no backend or model line).
  expect(e.stderr.trim().split('\n')).toHaveLength(1);
  expect(e.stderr).not.toMatch(/backend|model \d/);
  return e.stderr.trim();
}

describe('output paths are checked before training', () => {
  it('names a directory given as a file, a missing directory, a non-directory parent and a shared name', async () => {
    const sub = join(dir, 'out');
    mkdirSync(sub);
    const file = join(dir, 'plain.txt');
    writeFileSync(file, 'not a directory');
    const args = ['train', '--data', 'synthetic', '--layers', '8', '--steps', '2', '--backend', 'cpu'];
    const cases: [string[], string | RegExp][] = [
      [['--save', sub], `rectigrad: --save ${sub} is a directory: give a file name inside it`],
      [
        ['--save', join(dir, 'nope', 'm.safetensors')],
        `rectigrad: --save ${join(dir, 'nope', 'm.safetensors')}: the directory ${join(dir, 'nope')} does not exist: create it first`,
      ],
      [['--json', join(file, 'r.json')], `rectigrad: --json ${join(file, 'r.json')}: ${file} is not a directory`],
      [['--save', join(sub, 'x'), '--json', join(sub, '.', 'x')], /^rectigrad: --save and --json both name .*: give each its own file$/],
      [['--save', ''], 'rectigrad: --save needs a file name'],
    ];
    // Run side by side: each is a CLI start, and none gets past its checks.
    const got = await Promise.all(cases.map(([extra]) => fail([...args, ...extra])));
    cases.forEach(([, want], i) => (typeof want === 'string' ? expect(got[i]).toBe(want) : expect(got[i]).toMatch(want)));
  }, 120_000);

  it('writes both outputs when the paths are good', async () => {
    const save = join(dir, 'ok.safetensors');
    const json = join(dir, 'ok.json');
    const { stdout } = await cli([
      'train',
      '--data',
      'synthetic',
      '--layers',
      '8',
      '--steps',
      '2',
      '--backend',
      'cpu',
      '--quiet',
      '--save',
      save,
      '--json',
      json,
    ]);
    expect(stdout).toMatch(/2 steps, [\s\S]*checkpoint\s[\s\S]*ok\.safetensors/); // wrapped at 80 columns
    expect(loadCheckpoint(save).step).toBe(2);
    expect(JSON.parse(readFileSync(json, 'utf8')).config.batch).toBe(64);
  }, 120_000);
});

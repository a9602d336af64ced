// The library's layers import only downwards: ops ← plan ← backend ← train ← (cli,
// experiment), with util, model, data and io beside them at the ranks below. A file may
// import its own folder or a folder of lower rank; nothing in src/ imports bench/, demo/
// or test/. This test reads every import (static and dynamic) of every file in src/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const RANK: Record<string, number> = {
  util: 0,
  ops: 1,
  model: 2,
  data: 2,
  io: 3,
  plan: 3,
  backend: 4,
  train: 5,
  '.': 6, // the entry points: index.ts (browser and Node), node.ts
  experiment: 6,
  cli: 7,
};

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return p.endsWith('assembly') ? [] : files(p);
    return /\.ts$/.test(f) && !f.endsWith('.d.ts') ? [p] : [];
  });
}

/** The top folder of src/ a path lies in ('.' for src/ itself), or undefined outside src/. */
function layer(path: string): string | undefined {
  const rel = relative(src, path);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split('/');
  return parts.length === 1 ? '.' : parts[0];
}

function violations(): string[] {
  const out: string[] = [];
  for (const file of files(src)) {
    const from = layer(file)!;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
      const target = normalize(join(dirname(file), m[1]));
      const to = layer(target);
      const where = `${relative(root, file)} imports ${m[1]}`;
      if (to === undefined) out.push(`${where}: outside src/`);
      else if (!(to in RANK) || !(from in RANK)) out.push(`${where}: a folder with no rank (add it to RANK)`);
      else if (to !== from && RANK[to] >= RANK[from]) out.push(`${where}: ${from} (rank ${RANK[from]}) may not import ${to} (rank ${RANK[to]})`);
    }
  }
  return out;
}

describe('import direction', () => {
  it('every import in src/ runs down the layers', () => {
    expect(violations()).toEqual([]);
  });

  it('the check sees a violation when there is one', () => {
    // ops/op.ts importing the backend would be one: the rule is not vacuous.
    const from = layer(join(src, 'ops/op.ts'))!;
    const to = layer(join(src, 'backend/backend.ts'))!;
    expect(RANK[to] >= RANK[from]).toBe(true);
    expect(files(src).length).toBeGreaterThan(40);
  });
});

#!/usr/bin/env node
// The `rectigrad` command. An installed package runs its built JavaScript (dist/); a source
// checkout, which has src/ and tsx, runs the TypeScript directly and needs no build step.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}

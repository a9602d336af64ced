// Headless Chromium for benchmarks and end-to-end tests: the system Chromium (never a
// downloaded one) driven by puppeteer-core, with SwiftShader WebGPU where there is no GPU,
// and small servers on 127.0.0.1 for the pages it loads. (The tests' own helpers — Vite
// servers, PNG checks — are in test/support/chromium.ts.)
import { existsSync, mkdtempSync, rmSync, statSync, createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import puppeteer, { type Browser, type LaunchOptions } from 'puppeteer-core';

/** The browser: CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags of every launch: quiet, offline, fresh. WebGPU's flag is added unless asked not to. */
export const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu'];
/** What turns WebGPU off, for fallback tests: no navigator.gpu at all. */
export const NO_WEBGPU_FLAGS = ['--disable-features=WebGPU'];

export interface LaunchedBrowser {
  browser: Browser;
  /** The fresh profile directory (removed by close()). */
  userDataDir: string;
  close(): Promise<void>;
}

export interface LaunchChromiumOptions {
  /** Expose WebGPU (default true); false launches with it switched off. */
  webgpu?: boolean;
  /** More command-line flags, after the standard ones. */
  extraArgs?: string[];
  /** Where downloads land (allowed when given). */
  downloadPath?: string;
  /** Anything else puppeteer's launch takes (overrides the above). */
  launch?: LaunchOptions;
}

/** Launch the system Chromium headless with a fresh profile; fails loudly when it is missing. */
export async function launchChromium(opts: LaunchChromiumOptions = {}): Promise<LaunchedBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: run \`npm run setup\` (installs Debian's chromium) or set CHROMIUM_PATH`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'rectigrad-chromium-'));
  const args = [...BASE_FLAGS, ...(opts.webgpu === false ? NO_WEBGPU_FLAGS : WEBGPU_FLAGS), ...(opts.extraArgs ?? [])];
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      userDataDir,
      args,
      defaultViewport: { width: 1400, height: 1000 },
      downloadBehavior: opts.downloadPath ? { policy: 'allow', downloadPath: opts.downloadPath } : undefined,
      protocolTimeout: 300_000,
      ...opts.launch,
    });
  } catch (e) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    browser,
    userDataDir,
    async close() {
      try {
        await browser.close();
      } finally {
        rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

/** A free TCP port on 127.0.0.1 (free when asked; take it promptly). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export interface Served {
  /** e.g. http://127.0.0.1:41234/ (with a trailing slash). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.wgsl': 'text/plain; charset=utf-8',
};

export interface ServeOptions {
  /** Send COOP/COEP headers so the page is cross-origin isolated (SharedArrayBuffer, wasm threads). */
  crossOriginIsolated?: boolean;
}

/** Serve a directory's files as they are (no compression, no caching) on 127.0.0.1, on a free port. */
export async function serveDirectory(dir: string, opts: ServeOptions = {}): Promise<Served> {
  const root = resolve(dir);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cache-control': 'no-store',
    };
    if (opts.crossOriginIsolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

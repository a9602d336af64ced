// Headless Chromium for end-to-end tests and benchmarks: the system Chromium (never a
// downloaded one) driven by puppeteer-core, with SwiftShader WebGPU where there is no GPU,
// and small servers on 127.0.0.1 for the pages it loads.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { inflateSync } from 'node:zlib';
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

export interface ViteOptions {
  /** 'dev': the dev server (modules compiled on request); 'preview': serves a build's outDir. */
  mode: 'dev' | 'preview';
  /** Project root holding vite.config.ts (default: the working directory). */
  cwd?: string;
  /** More CLI arguments, e.g. ['--outDir', dir] for preview. */
  args?: string[];
  /** How long to wait for the server to answer (ms, default 60 s). */
  timeoutMs?: number;
}

/** Start `vite` or `vite preview` on 127.0.0.1 on a free port, in a child process; resolves once it answers. */
export async function startVite(opts: ViteOptions): Promise<Served> {
  const cwd = opts.cwd ?? process.cwd();
  const port = await freePort();
  const bin = join(cwd, 'node_modules', 'vite', 'bin', 'vite.js');
  const cmd = opts.mode === 'dev' ? [] : ['preview'];
  const child: ChildProcess = spawn(process.execPath, [bin, ...cmd, '--host', '127.0.0.1', '--port', String(port), '--strictPort', ...(opts.args ?? [])], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BROWSER: 'none', FORCE_COLOR: '0' },
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}/`;
  const stop = () =>
    new Promise<void>((ok) => {
      if (child.exitCode !== null || child.signalCode !== null) return ok();
      child.once('exit', () => ok());
      child.kill('SIGTERM');
    });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vite ${opts.mode} exited (${child.exitCode}) before serving:\n${log}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok || r.status === 404) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vite ${opts.mode} did not answer on ${url} in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, close: stop };
}

export interface PngImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  rgba: Uint8Array;
}

/** Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are). */
export function decodePng(png: Uint8Array): PngImage {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((b, i) => png[i] === b)) throw new Error('not a PNG');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Uint8Array[] = [];
  for (let p = 8; p < png.length; ) {
    const len = view.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    const body = png.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(p + 8);
      height = view.getUint32(p + 12);
      const depth = body[8];
      colorType = body[9];
      if (depth !== 8 || (colorType !== 2 && colorType !== 6) || body[12] !== 0) {
        throw new Error(`unsupported PNG (bit depth ${depth}, colour type ${colorType}, interlace ${body[12]})`);
      }
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    p += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = colorType === 6 ? 4 : 3;
  const stride = width * bpp;
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = (line[i] + pred) & 255;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      out[o] = cur[x * bpp];
      out[o + 1] = cur[x * bpp + 1];
      out[o + 2] = cur[x * bpp + 2];
      out[o + 3] = bpp === 4 ? cur[x * bpp + 3] : 255;
    }
    prev = cur;
  }
  return { width, height, rgba: out };
}

/** How much is on a picture: distinct colours and the share of pixels unlike the most common colour. */
export function imageStats(img: PngImage): { distinctColors: number; nonBackground: number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < img.rgba.length; i += 4) {
    const key = (img.rgba[i] << 16) | (img.rgba[i + 1] << 8) | img.rgba[i + 2];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const n = img.width * img.height;
  const top = Math.max(...counts.values());
  return { distinctColors: counts.size, nonBackground: 1 - top / n };
}

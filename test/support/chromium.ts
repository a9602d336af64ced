// Test-only helpers around headless Chromium: Vite servers for the pages under test and
// a PNG decoder for screenshots. Launching Chromium and serving files: bench/chromium.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { freePort, type Served } from '../../bench/chromium.ts';

export { launchChromium, serveDirectory, type Served } from '../../bench/chromium.ts';

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
  for (let p = 8; p < png.length;) {
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

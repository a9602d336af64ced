// The relaxed-SIMD build of the WebAssembly kernels (fused multiply-adds). Node 20 enables
// relaxed SIMD only behind a flag, so the kernels run for real in a child process started
// with it (support/relaxed-simd-child.ts); this process checks the choice without it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { stopHelpers, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { MATMUL_WASM_RELAXED } from '../src/backend/cpu/wasm/matmul-wasm.ts';

const run = promisify(execFile);
afterAll(() => stopHelpers());

const relaxedHere = WebAssembly.validate(Buffer.from(MATMUL_WASM_RELAXED, 'base64'));

describe('relaxed-SIMD kernels', () => {
  it('run under --experimental-wasm-relaxed-simd: within float32 rounding of the twin, FMA bits unlike the plain kernels, two threads bit-identical to one, the scatter kernel equal to spmm', async () => {
    const { stdout } = await run(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', 'test/support/relaxed-simd-child.ts'], {
      timeout: 240_000,
    });
    const f = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(f.autoVariant).toBe('relaxed');
    expect(f.adapters).toHaveLength(2);
    expect(f.adapters[0]).toMatch(/^CPU \(WebAssembly SIMD \(relaxed FMA\), float32, 1 thread/);
    expect(f.adapters[1]).toMatch(/^CPU \(WebAssembly SIMD, float32, 1 thread/);
    expect(f.products).toBe(8);
    expect(f.denseErr).toBeLessThan(1e-4);
    expect(f.sparseErr).toBeLessThan(1e-4);
    expect(f.sparseRuns).toBeGreaterThan(0);
    // A fused multiply-add rounds once: on FMA hardware most products differ in some bit.
    expect(f.differs).toBeGreaterThanOrEqual(4);
    expect(f.split).toBeGreaterThan(0);
    expect(f.threadMismatches).toBe(0);
    expect(f.heapVariant).toBe('relaxed');
    expect(f.scatterProducts).toBe(2);
    expect(f.scatterMismatches).toBe(0);
    expect(f.trainSteps).toBe(30);
    expect(f.trainDiff).toBeLessThan(1e-4);
    expect(f.trainSparseDiff).toBeLessThan(1e-4);
  }, 300_000);

  it.runIf(!relaxedHere)('are not chosen where the engine does not validate relaxed SIMD, and asking for them says how to get them', () => {
    expect(wasmModules('auto')?.variant).toBe('plain');
    const backend = new CpuBackend('float32', { threads: 1 });
    expect(backend.adapter).toMatch(/^CPU \(WebAssembly SIMD, float32/);
    backend.destroy();
    expect(() => new CpuBackend('float32', { simd: 'relaxed' })).toThrow(/does not validate WebAssembly relaxed SIMD.*--experimental-wasm-relaxed-simd/);
    expect(() => new CpuBackend('float32', { simd: 'fma' as never })).toThrow(/simd must be one of auto, plain, relaxed, not "fma"/);
  });
});

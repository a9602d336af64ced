// scripts/gpu-check.sh on this machine's software adapter: it must fail loudly, naming the
// software adapter, and never report a pass (the check itself runs with --allow-software).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

describe('gpu-check', () => {
  it('refuses a software adapter (SwiftShader) and shows why, without --allow-software', () => {
    const r = spawnSync('bash', ['scripts/gpu-check.sh'], { encoding: 'utf8', env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER }, timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/glibc 2\.\d+/);
    expect(r.stderr).toMatch(/FAILED — the only adapter is a software one \(SwiftShader\)/);
    expect(r.stderr).not.toMatch(/passed/);
  });

  it('with no Vulkan driver at all it shows what Dawn and the loader said', () => {
    const r = spawnSync('bash', ['scripts/gpu-check.sh'], {
      encoding: 'utf8',
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' },
      timeout: 120_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/what Dawn and the Vulkan loader said:\n {2}\| /);
    expect(r.stderr).toMatch(/FAILED — no WebGPU adapter/);
  });

  it('refuses an unknown option', () => {
    const r = spawnSync('bash', ['scripts/gpu-check.sh', '--fast'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown option --fast/);
  });
});

// The PyTorch reference engine's host: bench/pytorch-agent.py in a Python process of its
// own ($PYTHON, else /usr/bin/python3, the system's, where Debian's python3-torch lives),
// on as many threads as rectigrad's CPU backend, speaking JSON lines over stdin/stdout.
// OpenBLAS settings in the environment (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) pass as given.
// OMP_WAIT_POLICY is PASSIVE unless set: torch's OpenMP threads otherwise spin between
// parallel regions and starve OpenBLAS's own threads, which on two busy cores made its
// steps 4–8 times slower (batch 10 and 64, measured here).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { paramLayout } from '../src/model/layout.ts';
import type { AgentRequest, AgentResponse } from './agent.ts';
import { EngineError, type Host } from './hosts.ts';
import { cellParams, PYTORCH, toBase64, type Cell } from './spec.ts';

const SCRIPT = fileURLToPath(new URL('./pytorch-agent.py', import.meta.url));
const START_TIMEOUT_MS = 120_000;

/** The Python the bench runs PyTorch with. */
export const pythonPath = () => process.env.PYTHON || '/usr/bin/python3';

const f32 = (a: Float32Array) => toBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/** The cell's initial weights per layer as PyTorch's Linear holds them (W: outputs × inputs, as rectigrad stores it). */
function layersOf(cell: Cell) {
  if (cell.kind !== 'train') return [];
  const p = cellParams(cell);
  return paramLayout(cell.model).layers.map((l) => ({
    inputs: l.inputs,
    outputs: l.outputs,
    w: f32(p.subarray(l.weight, l.weight + l.inputs * l.outputs)),
    b: f32(p.subarray(l.bias, l.bias + l.outputs)),
  }));
}

export class PythonHost implements Host {
  readonly engine = PYTORCH;
  private pending = new Map<number, { ok: (v: AgentResponse) => void; fail: (e: Error) => void }>();
  private next = 1;
  private log: string[] = [];
  private exited?: string;

  private constructor(private child: ChildProcess) {}

  /** The host, or why PyTorch cannot run here (no Python, no torch): a sentence, never a throw. */
  static async start(threads: number, verbose = false): Promise<PythonHost | string> {
    const python = pythonPath();
    const child = spawn(python, [SCRIPT, String(threads)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, PYTHONUNBUFFERED: '1' },
    });
    const host = new PythonHost(child);
    child.stderr!.on('data', (d: Buffer) => {
      for (const line of d
        .toString()
        .split('\n')
        .filter((l) => l.trim())) {
        host.log.push(line);
        if (host.log.length > 20) host.log.shift();
        if (verbose) process.stderr.write(`[${PYTORCH}] ${line}\n`);
      }
    });
    const lines = createInterface({ input: child.stdout! });
    let ready: ((m: { ready: boolean; error?: string }) => void) | undefined;
    const first = new Promise<{ ready: boolean; error?: string }>((ok) => (ready = ok));
    lines.on('line', (line) => {
      let m: { ready?: boolean; error?: string; id?: number; ok?: boolean; result?: AgentResponse };
      try {
        m = JSON.parse(line);
      } catch {
        host.log.push(line);
        return;
      }
      if (m.ready !== undefined) return ready?.({ ready: m.ready, error: m.error });
      const p = host.pending.get(m.id!);
      host.pending.delete(m.id!);
      if (m.ok) p?.ok(m.result);
      else p?.fail(new EngineError(m.error ?? 'failed'));
    });
    const gone = new Promise<{ ready: boolean; error: string }>((ok) => {
      child.on('error', (e) => ok({ ready: false, error: `${python} cannot be started (${e.message}); set PYTHON to a Python with torch` }));
      child.on('exit', (code, signal) => {
        host.exited = `its Python process exited (${signal ?? `code ${code}`})${host.log.length ? `: ${host.log.slice(-2).join(' | ')}` : ''}`;
        for (const p of host.pending.values()) p.fail(new EngineError(host.exited));
        host.pending.clear();
        ok({ ready: false, error: host.exited });
      });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<{ ready: boolean; error: string }>((ok) => {
      timer = setTimeout(() => ok({ ready: false, error: `${python} did not start PyTorch within ${START_TIMEOUT_MS / 1000} s` }), START_TIMEOUT_MS);
    });
    const m = await Promise.race([first, gone, late]);
    clearTimeout(timer);
    if (m.ready) return host;
    child.kill('SIGKILL');
    return m.error?.includes('cannot import torch') ? `${m.error}; install PyTorch there (Debian: python3-torch) or set PYTHON` : (m.error ?? 'failed');
  }

  request(req: AgentRequest, timeoutMs: number): Promise<AgentResponse> {
    if (this.exited) return Promise.reject(new EngineError(this.exited));
    const id = this.next++;
    const p = new Promise<AgentResponse>((ok, fail) => this.pending.set(id, { ok, fail }));
    const body = req.op === 'open' ? { ...req, layers: layersOf(req.cell) } : req;
    this.child.stdin!.write(JSON.stringify({ id, req: body }) + '\n');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        fail(new EngineError(`${PYTORCH} ${req.op} took longer than ${(timeoutMs / 1000).toFixed(0)} s and was stopped`));
      }, timeoutMs);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    if (this.exited) return;
    try {
      await this.request({ op: 'exit' } as unknown as AgentRequest, 10_000);
    } catch {
      /* killed on timeout */
    }
    this.child.kill('SIGKILL');
  }
}

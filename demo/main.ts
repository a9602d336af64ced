import { acquireGpu, WebGpuBackend, Trainer, syntheticDataset, modelSpec, DEFAULT_OPTIMIZER } from '../src/index.ts';
const out = document.getElementById('out')!;
const ctx = await acquireGpu();
const backend = new WebGpuBackend(ctx);
const data = syntheticDataset({ examples: 512, features: 20, classes: 5 });
const t = await Trainer.create(backend, modelSpec({ inputs: 20, classes: 5, hidden: [32, 32] }), { batch: 16, l1: 0, telemetry: true, optimizer: DEFAULT_OPTIMIZER, lr: 0.05, shuffleSeed: 1 }, data);
for await (const s of t.run(20)) out.textContent = `${backend.adapter}\nstep ${s.step} loss ${s.loss.toFixed(4)} sparsity ${s.sparsity.map((x) => x.toFixed(2))}`;
(window as unknown as { done: boolean }).done = true;

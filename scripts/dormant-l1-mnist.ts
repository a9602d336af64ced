// Sparse yet alive? The paper's network (784-1000-1000-1000-10, relu) trained on MNIST
// with the L1 activation penalty 0.001 (the `fast` recipe of the glorot2011 experiment:
// momentum 0.9, batch 64, lr 0.03), then scanned: how sparse each layer is, how many units
// are dead on the training and test sets, and how many are dormant at several τ.
// Run: npx tsx scripts/dormant-l1-mnist.ts [epochs=1]   (CPU backend; JSON lines)
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { loadMnist } from '../src/data/idx-files.ts';
import { PAPER_MODEL } from '../src/model/spec.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { Evaluator } from '../src/train/evaluate.ts';
import { Trainer } from '../src/train/trainer.ts';
import { activity, UnitScanner } from '../src/train/unit-scan.ts';

const epochs = Number(process.argv[2] ?? 1);
const train = loadMnist('train');
const test = loadMnist('test');
const model = PAPER_MODEL;
const backend = new CpuBackend();
const t = await Trainer.create(
  backend,
  model,
  { batch: 64, l1: 0.001, telemetry: true, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 }, lr: 0.03, shuffleSeed: 1 },
  train,
);
const t0 = performance.now();
for await (const s of t.run(epochs * t.stepsPerEpoch))
  if (s.step % 200 === 0) console.log(JSON.stringify({ step: s.step, loss: s.loss, sparsity: s.sparsity, windowDead: s.deadUnits }));
const seconds = (performance.now() - t0) / 1000;
const ev = await (await Evaluator.create(backend, model, test)).evaluate();
for (const [name, data] of [
  ['train', train],
  ['test', test],
] as const) {
  const scan = await (await UnitScanner.create(backend, model, data, { prefix: `scan.${name}.` })).scan();
  const dormant = (tau: number) => scan.layers.map((l) => activity(l.layer, l.maxZ, l.meanAbs, tau).dormant);
  console.log(
    JSON.stringify({
      set: name,
      examples: scan.examples,
      dead: scan.layers.map((l) => l.dead),
      dormant0: dormant(0),
      dormant0025: dormant(0.025),
      dormant01: dormant(0.1),
    }),
  );
}
console.log(JSON.stringify({ epochs, seconds, testError: ev.error, testSparsity: ev.sparsity, evalDead: ev.deadUnits }));

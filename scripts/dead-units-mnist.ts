// Dead units on real MNIST, measured: a 784-64-10 relu network trained with plain SGD at a
// learning rate far too high, the dead-layer alarm it raises, full-set scans of the
// training and test sets, and what reviving (ReDo) or pruning the dead units does.
// Run: npx tsx scripts/dead-units-mnist.ts [lr] [steps]   (CPU backend; prints one JSON line per stage)
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { loadMnist } from '../src/data/idx-files.ts';
import { modelSpec } from '../src/model/spec.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { DeadAlarm } from '../src/train/dead-alarm.ts';
import { Evaluator } from '../src/train/evaluate.ts';
import { largestChange, pruneUnits } from '../src/train/prune.ts';
import { reviveUnits, unitsFromScan } from '../src/train/revive.ts';
import { Trainer } from '../src/train/trainer.ts';
import { UnitScanner } from '../src/train/unit-scan.ts';

const lr = Number(process.argv[2] ?? 1e7);
const steps = Number(process.argv[3] ?? 300);
const train = loadMnist('train');
const test = loadMnist('test');
const model = modelSpec({ inputs: 784, classes: 10, hidden: [64], activation: 'relu', seed: 1 });
const options = { batch: 64, l1: 0, telemetry: true, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' as const }, lr, shuffleSeed: 1 };
const say = (stage: string, o: object) => console.log(JSON.stringify({ stage, ...o }));

/** Train `n` steps at `rate`, feeding the alarm; then scan both sets and evaluate the test set. */
async function leg(t: Trainer, scanners: { train: UnitScanner; test: UnitScanner }, ev: Evaluator, n: number, rate: number, alarm?: DeadAlarm) {
  (t.options as { lr: number }).lr = rate;
  let last;
  for await (const s of t.run(n)) {
    last = s;
    for (const a of alarm?.observe(s) ?? []) say('alarm', a);
  }
  const [tr, te, e] = [await scanners.train.scan(), await scanners.test.scan({ logits: true }), await ev.evaluate()];
  for (const a of alarm?.observeScan(tr, t.step) ?? []) say('alarm', a);
  return {
    step: t.step,
    lr: rate,
    lastLoss: last?.loss,
    windowDead: last?.deadUnits,
    deadTrain: tr.layers.map((l) => l.dead),
    dormantTrain: tr.layers.map((l) => l.dormant),
    deadTest: te.layers.map((l) => l.dead),
    testError: e.error,
    scanTrain: tr,
    testLogits: te.logits!,
  };
}

async function setup() {
  const backend = new CpuBackend();
  const t = await Trainer.create(backend, model, options, train);
  const scanners = {
    train: await UnitScanner.create(backend, model, train, { prefix: 'scan.train.' }),
    test: await UnitScanner.create(backend, model, test, { prefix: 'scan.test.' }),
  };
  const ev = await Evaluator.create(backend, model, test);
  return { backend, t, scanners, ev };
}
const brief = ({ scanTrain: _s, testLogits: _l, ...r }: Awaited<ReturnType<typeof leg>>) => r;

const A = await setup();
const alarm = new DeadAlarm(model.hidden);
const hot = await leg(A.t, A.scanners, A.ev, steps, lr, alarm);
say('after the hot phase', brief(hot));
const stateHot = await A.t.state();

// Prune the units dead on the training set: same outputs there, and the test-set change.
const pruned = pruneUnits(stateHot, unitsFromScan(hot.scanTrain));
const P = new CpuBackend();
const ps = await UnitScanner.create(P, pruned.model, test, { params: 'own' });
const pl = await ps.scan({ params: pruned.state.params, logits: true });
say('pruned', { hidden: pruned.model.hidden, removed: pruned.removed, largestTestLogitChange: largestChange(hot.testLogits, pl.logits!) });

// Then a sane learning rate: once with the dead units left as they are, once revived first.
const cool = 0.05;
const plain = await leg(A.t, A.scanners, A.ev, steps, cool);
say('continued at a sane lr, dead units left', brief(plain));
const B = await setup();
B.t.restore(stateHot);
const r = await reviveUnits(B.t, unitsFromScan(hot.scanTrain), { seed: stateHot.step });
say('revived', r);
const revived = await leg(B.t, B.scanners, B.ev, steps, cool);
say('continued at a sane lr, dead units revived', brief(revived));

// For comparison: a fresh network trained as long at the sane learning rate only.
const C = await setup();
say('control: fresh network at the sane lr', brief(await leg(C.t, C.scanners, C.ev, steps, cool)));

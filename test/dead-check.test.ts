// The between-steps dead-unit check: scan with the live weights, alarm, revive.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { DeadAlarm } from '../src/train/dead-alarm.ts';
import { checkDeadUnits } from '../src/train/dead-check.ts';
import { UnitScanner } from '../src/train/unit-scan.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

describe('checkDeadUnits', () => {
  it('finds a layer killed mid-run, raises the alarm, revives its units and training goes on', async () => {
    const model = smallModel({ hidden: [24, 17] });
    const data = smallData(512);
    const t = await trainer(new CpuBackend(), model, trainerOptions({ lr: 0.05 }), data);
    const scanner = await UnitScanner.create(t.backend, model, data, { batch: 128 });
    const alarm = new DeadAlarm(model.hidden);
    await collect(t.run(8));
    const quiet = await checkDeadUnits(t, scanner, { alarm, revive: 'dead' });
    expect(quiet.alarms).toEqual([]);
    const p = await t.getParams();
    const l1 = t.plan.layout.layers[1];
    for (let j = 0; j < l1.outputs; j++) p[l1.bias + j] = -100;
    t.setParams(p);
    await collect(t.run(4));
    const hit = await checkDeadUnits(t, scanner, { alarm, revive: 'dead' });
    expect(hit.step).toBe(12);
    expect(hit.alarms.map((a) => [a.layer, a.reason, a.deadUnits])).toEqual([[2, 'dead-on-set', 17]]);
    expect(hit.revived!.revived[1]).toBe(17);
    const after = await checkDeadUnits(t, scanner);
    expect(after.scan.layers[1].dead).toBe(0);
    const more = await collect(t.run(20));
    expect(more.every((s) => Number.isFinite(s.loss))).toBe(true);
    expect(more[more.length - 1].gradNorm[0]).toBeGreaterThan(0);
  });

  it('refuses a scanner with parameters of its own', async () => {
    const model = smallModel();
    const data = smallData(64);
    const t = await trainer(new CpuBackend(), model, trainerOptions(), data);
    const own = await UnitScanner.create(t.backend, model, data, { params: 'own' });
    await expect(checkDeadUnits(t, own)).rejects.toThrow(/must read the trainer's live weights/);
  });
});

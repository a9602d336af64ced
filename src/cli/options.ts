// Parsing and checking option values: every bad value is a message naming the flag.
import { InvalidArgumentError } from 'commander';

export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${flag} takes a positive whole number, got "${v}"`);
    }
    return n;
  };
}

export function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${flag} takes a whole number ≥ 0, got "${v}"`);
    }
    return n;
  };
}

export function nonNegative(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} takes a number ≥ 0, got "${v}"`);
    return n;
  };
}

export function positive(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a number > 0, got "${v}"`);
    return n;
  };
}

export function oneOf<T extends string>(flag: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(`${flag} takes one of ${choices.join(', ')}; got "${v}"`);
    }
    return v as T;
  };
}

export function widthList(flag: string) {
  return (v: string): number[] => {
    if (v.trim() === '' || v.trim() === 'none') return [];
    const parts = v.split(',').map((s) => s.trim());
    return parts.map((p) => {
      const n = Number(p);
      if (!/^\d+$/.test(p) || n < 1) throw new InvalidArgumentError(`${flag} takes comma-separated layer widths like 1000,1000,1000; "${p}" is not one`);
      return n;
    });
  };
}

/** A step count, or a number of epochs written with an "e" suffix (e.g. 500, 2e). */
export function stepsOrEpochs(flag: string) {
  return (v: string): { steps: number } | { epochs: number } => {
    const m = /^\s*(\d+)\s*(e|epochs?)?\s*$/i.exec(v);
    const n = m ? Number(m[1]) : NaN;
    if (!m || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a number of steps (e.g. 500) or of epochs (e.g. 2e), got "${v}"`);
    return m[2] ? { epochs: n } : { steps: n };
  };
}

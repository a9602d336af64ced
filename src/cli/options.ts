// Parsing and checking option values: every bad value is a message naming the flag.
import { InvalidArgumentError } from 'commander';

/** A value as the message quotes it: on one line, whatever it holds. */
const quote = (v: string) => JSON.stringify(v);

export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${flag} takes a positive whole number, got ${quote(v)}`);
    }
    return n;
  };
}

export function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${flag} takes a whole number ≥ 0, got ${quote(v)}`);
    }
    return n;
  };
}

export function nonNegative(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} takes a number ≥ 0, got ${quote(v)}`);
    return n;
  };
}

export function positive(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a number > 0, got ${quote(v)}`);
    return n;
  };
}

export function oneOf<T extends string>(flag: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(`${flag} takes one of ${choices.join(', ')}; got ${quote(v)}`);
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
      if (!/^\d+$/.test(p) || !Number.isSafeInteger(n) || n < 1) {
        throw new InvalidArgumentError(`${flag} takes comma-separated layer widths like 1000,1000,1000; ${quote(p)} is not one`);
      }
      return n;
    });
  };
}

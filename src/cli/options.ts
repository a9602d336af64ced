// Parsing and checking option values: every bad value is a message naming the flag.
import { InvalidArgumentError } from 'commander';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

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

/** A drop probability in [0, 1): 0 is off, 1 would drop everything. */
export function dropRate(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1)
      throw new InvalidArgumentError(`${flag} takes a drop probability in [0, 1), e.g. 0.5 (0: off), got ${quote(v)}`);
    return n;
  };
}

/** A fraction in (0, 1]: a share of something, where 0 would mean nothing at all. */
export function fraction(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
      throw new InvalidArgumentError(`${flag} takes a fraction in (0, 1], e.g. 0.5, got ${quote(v)}`);
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

/**
 * Checks, before any work starts, that a file can be written at `path`: it is not a
 * directory, and its directory exists and is writable. Throws one line naming the flag and
 * the fix, so a long run never ends unable to save what it computed.
 */
export function checkOutputPath(flag: string, path: string): void {
  if (path === '') throw new Error(`${flag} needs a file name`);
  const stat = (p: string) => {
    try {
      return statSync(p);
    } catch {
      return undefined;
    }
  };
  if (stat(path)?.isDirectory()) throw new Error(`${flag} ${path} is a directory: give a file name inside it`);
  const dir = dirname(resolve(path));
  const d = stat(dir);
  if (!d) throw new Error(`${flag} ${path}: the directory ${dir} does not exist: create it first`);
  if (!d.isDirectory()) throw new Error(`${flag} ${path}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${flag} ${path}: the directory ${dir} is not writable: choose another place`);
  }
}

/** A step count, or a number of epochs written with an "e" suffix (e.g. 500, 2e). */
export function stepsOrEpochs(flag: string) {
  return (v: string): { steps: number } | { epochs: number } => {
    const m = /^\s*(\d+)\s*(e|epochs?)?\s*$/i.exec(v);
    const n = m ? Number(m[1]) : NaN;
    if (!m || !Number.isSafeInteger(n) || n < 1)
      throw new InvalidArgumentError(`${flag} takes a number of steps (e.g. 500) or of epochs (e.g. 2e), got "${v}"`);
    return m[2] ? { epochs: n } : { steps: n };
  };
}

/** A comma-separated list of numbers, each checked by `ok` (e.g. a grid of learning rates: 0.1,0.03,0.01). */
export function numberList(flag: string, ok: (x: number) => boolean, what: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    return parts.map((p) => {
      const n = Number(p);
      if (p === '' || !Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`${flag} takes comma-separated ${what}; ${quote(p)} is not one`);
      return n;
    });
  };
}

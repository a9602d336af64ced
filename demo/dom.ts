// Small helpers every part of the page uses.
import type { RunId } from './run.ts';

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
export const IDS: RunId[] = ['A', 'B'];
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
export const pct = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;

// Where rectigrad keeps what it can always make again (kernel timings, the bench's trained
// start weights), in Node: $RECTIGRAD_CACHE_DIR, else $XDG_CACHE_HOME/rectigrad, else
// ~/.cache/rectigrad.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir(): string {
  const env = process.env;
  if (env.RECTIGRAD_CACHE_DIR) return env.RECTIGRAD_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'rectigrad');
}

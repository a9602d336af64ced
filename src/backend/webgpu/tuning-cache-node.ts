// The tuning cache in Node: one JSON file, $RECTIGRAD_CACHE_DIR/tuning.json (default
// $XDG_CACHE_HOME/rectigrad, else ~/.cache/rectigrad). Written atomically; a corrupt or
// unreadable file is treated as empty (it is only a cache) and replaced on the next write.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../../util/cache-dir.ts';
import type { TuningCache } from './tuning-cache.ts';

export function fileCache(dir = cacheDir()): TuningCache {
  const file = join(dir, 'tuning.json');
  const read = (): Record<string, unknown> => {
    try {
      const v = JSON.parse(readFileSync(file, 'utf8'));
      return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
    } catch {
      return {};
    }
  };
  return {
    where: file,
    async get(k) {
      return read()[k];
    },
    async set(k, v) {
      const all = read();
      all[k] = v;
      try {
        mkdirSync(dir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(all, null, 1) + '\n');
        renameSync(tmp, file);
      } catch {
        // An unwritable cache directory costs a re-measurement next time, nothing more.
      }
    },
  };
}

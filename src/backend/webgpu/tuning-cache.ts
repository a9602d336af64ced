// Where measured kernel choices are kept between runs, keyed by engine version, adapter and
// product shape. The browser keeps them in IndexedDB; Node registers a JSON file
// (tuning-cache-node.ts, registered by the Node entry); elsewhere they last for the process.

export interface TuningCache {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  /** Where the entries live, for messages. */
  readonly where: string;
}

export function memoryCache(): TuningCache {
  const m = new Map<string, unknown>();
  return {
    where: 'memory (this process only)',
    async get(k) {
      return m.get(k);
    },
    async set(k, v) {
      m.set(k, v);
    },
  };
}

/** IndexedDB database `rectigrad`, store `tuning`; failures fall back to memory silently (a cache may be lost). */
export function indexedDbCache(): TuningCache {
  const fallback = memoryCache();
  let db: Promise<IDBDatabase | undefined> | undefined;
  const open = () =>
    (db ??= new Promise((resolve) => {
      try {
        const req = indexedDB.open('rectigrad', 1);
        req.onupgradeneeded = () => req.result.createObjectStore('tuning');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => resolve(undefined);
      } catch {
        resolve(undefined);
      }
    }));
  const tx = async <T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T | undefined> => {
    const d = await open();
    if (!d) return undefined;
    return new Promise((resolve) => {
      const r = f(d.transaction('tuning', mode).objectStore('tuning'));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => resolve(undefined);
    });
  };
  return {
    where: 'IndexedDB rectigrad/tuning',
    async get(k) {
      return (await tx('readonly', (s) => s.get(k))) ?? fallback.get(k);
    },
    async set(k, v) {
      await fallback.set(k, v);
      await tx('readwrite', (s) => s.put(v, k));
    },
  };
}

let cache: TuningCache | undefined;

/** Register where tuning choices are kept (Node: a JSON file). */
export function setTuningCache(c: TuningCache | undefined): void {
  cache = c;
}

export function tuningCache(): TuningCache {
  cache ??= typeof indexedDB !== 'undefined' ? indexedDbCache() : memoryCache();
  return cache;
}

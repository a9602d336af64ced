// The engine's version, for caches keyed by it (the tuning cache). A test keeps it equal
// to package.json's.
export const ENGINE_VERSION = '0.1.0';

// Checkpoint files (Node). Written atomically: a temporary file beside the target, then a
// rename, so an interrupted save never leaves a half-written checkpoint behind.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointState } from './checkpoint.ts';
import { CheckpointError } from './safetensors.ts';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function saveCheckpoint(path: string, state: CheckpointState): void {
  writeFileAtomic(path, encodeCheckpoint(state));
}

export function loadCheckpoint(path: string): CheckpointState {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}

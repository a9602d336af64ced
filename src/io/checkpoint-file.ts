// Checkpoint files (Node). Written atomically and durably: a temporary file beside the
// target is written and fsynced, renamed over the target, then the directory is fsynced so
// the rename itself survives a crash. A reader (or a crash at any instant) sees the old
// file or the new one, never a half-written one.
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointState } from './checkpoint.ts';
import { CheckpointError } from './safetensors.ts';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  try {
    const fd = openSync(tmp, 'w');
    try {
      // writeSync may write less than asked (large buffers, signals): loop until all is down.
      for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
  removeStaleTemps(path);
}

/** A temporary file this old, whose writer is gone, is what a killed save left behind. */
const STALE_MS = 10 * 60_000;

/**
 * Removes `<path>.tmp-<pid>` files left by saves that were killed: only when no process
 * with that pid runs here and the file has not changed for ten minutes, so a save under
 * way elsewhere is never touched. Best effort: a failure here never fails the save.
 */
function removeStaleTemps(path: string): void {
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n.slice(prefix.length));
    if (!n.startsWith(prefix) || !/^\d+$/.test(n.slice(prefix.length)) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // its writer (or a process with its pid) is alive
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    try {
      const tmp = join(dirname(path), n);
      if (Date.now() - statSync(tmp).mtimeMs > STALE_MS) rmSync(tmp, { force: true });
    } catch {
      /* gone already, or not ours to remove */
    }
  }
}

/** Makes a rename in `dir` durable. Some platforms (Windows) cannot open a directory: skip there. */
function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw e;
  } finally {
    closeSync(fd);
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
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file: check the path'
        : code === 'EISDIR'
          ? 'it is a directory: give the checkpoint file inside it'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied: make it readable'
            : code === 'ERR_FS_FILE_TOO_LARGE'
              ? 'larger than 2 GiB, beyond any rectigrad checkpoint: not a checkpoint'
              : (e as Error).message;
    throw new CheckpointError(`cannot read checkpoint ${path}: ${why}`);
  }
  return decodeCheckpoint(bytes, path);
}

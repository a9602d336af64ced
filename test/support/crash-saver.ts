// Child process of the crash test: saves two checkpoints in turn to one path, forever.
// It writes "b" to stdout as each save begins and "e" as it ends (pipe writes are
// synchronous, so the last letter the parent reads tells whether the kill landed inside a save).
import { saveCheckpoint } from '../../src/io/checkpoint-file.ts';
import { crashStates } from './checkpoints.ts';

const path = process.argv[2];
const states = crashStates();
for (let i = 0; ; i++) {
  process.stdout.write('b');
  saveCheckpoint(path, states[i % 2]);
  process.stdout.write('e');
}

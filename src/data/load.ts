// The datasets the CLI knows by name (Node).
import type { PixelDataset } from './dataset.ts';
import { loadIdxSplit, mnistDir, type Split } from './idx-files.ts';
import { syntheticDataset } from './synthetic.ts';

export const DATASETS = ['mnist', 'synthetic'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface DataSource {
  data: DatasetName;
  /** A directory of IDX files with the standard names (for --data mnist). */
  dataDir?: string;
  seed: number;
}

export function loadDataset(src: DataSource, split: Split): PixelDataset {
  if (src.data === 'synthetic') {
    return syntheticDataset({ examples: split === 'train' ? 8192 : 2048, features: 64, classes: 10, seed: src.seed + 7, split, noise: 160 });
  }
  if (src.dataDir) return loadIdxSplit(src.dataDir, split, src.dataDir.replace(/\/+$/, '').split('/').pop() || 'idx');
  return loadIdxSplit(mnistDir(), split, 'MNIST');
}

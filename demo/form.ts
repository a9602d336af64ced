// The settings of a run as a form: built from one description for runs A and B, read into
// a RunConfig with every value checked, filled from a config (presets, checkpoints), and
// settable from the URL (?A.hidden=1000,1000,1000&compare=1&B.activation=tanh …).
import { ACTIVATIONS, DEAD_UNIT_POLICIES, DEFAULT_OPTIMIZER, type DeadUnitPolicy } from '../src/index.ts';
import { INITS } from '../src/model/spec.ts';
import { DEFAULT_CONFIG, DEFAULT_LR, type RunConfig, type RunId } from './run.ts';

type Field = {
  key: keyof RunConfig | 'optimizerKind';
  label: string;
  title: string;
  /** Editable while the run exists (read every step). */
  live?: boolean;
} & ({ kind: 'select'; options: [string, string][] } | { kind: 'text'; list?: string[] } | { kind: 'number'; min: number; step: string });

const FIELDS: Field[] = [
  {
    key: 'hidden',
    label: 'Hidden layers',
    title: 'Widths of the hidden layers, comma-separated; the paper’s network is 1000,1000,1000',
    kind: 'text',
    list: ['256,256', '1000,1000,1000', '512,512,512,512', '128', '64,64,64,64,64,64'],
  },
  { key: 'activation', label: 'Activation', title: 'Activation of every hidden layer', kind: 'select', options: ACTIVATIONS.map((a) => [a, a]) },
  { key: 'l1', label: 'L1 penalty λ', title: 'L1 penalty on the hidden activations (the paper used 0.001)', kind: 'number', min: 0, step: 'any' },
  {
    key: 'optimizerKind',
    label: 'Optimiser',
    title: 'Parameter update',
    kind: 'select',
    options: [
      ['sgd', 'SGD'],
      ['momentum', 'SGD + momentum 0.9'],
      ['adam', 'Adam'],
    ],
  },
  { key: 'lr', label: 'Learning rate', title: 'Step size; can be changed while training', kind: 'number', min: 0, step: 'any', live: true },
  { key: 'batch', label: 'Batch size', title: 'Examples per step', kind: 'select', options: [16, 32, 64, 128, 256].map((b) => [String(b), String(b)]) },
  { key: 'init', label: 'Initialisation', title: 'glorot: the paper’s uniform ±√(6/(fan_in+fan_out))', kind: 'select', options: INITS.map((i) => [i, i]) },
  {
    key: 'trainExamples',
    label: 'Training set',
    title: 'The first n MNIST training images (one epoch = n / batch steps)',
    kind: 'select',
    options: [
      ['1000', '1,000 images'],
      ['10000', '10,000 images'],
      ['60000', 'all 60,000'],
    ],
  },
  {
    key: 'testExamples',
    label: 'Test set',
    title: 'MNIST test images evaluated after each epoch',
    kind: 'select',
    options: [
      ['1000', '1,000 images'],
      ['10000', 'all 10,000'],
    ],
  },
  {
    key: 'deadUnits',
    label: 'Dead units',
    title:
      'What the trainer does about dead units at the end of each epoch (its dead-unit window): keep only watches and raises the alarm; revive re-initialises the units dead on a scan of the training images (ReDo); prune removes them, and the network shrinks',
    kind: 'select',
    options: [
      ['keep', 'keep (watch, alarm)'],
      ['revive', 'revive each epoch'],
      ['prune', 'prune each epoch'],
    ],
  },
  {
    key: 'dropout',
    label: 'Dropout, hidden',
    title: 'Probability of dropping each hidden unit’s output while training (inverted dropout; evaluation never drops; not in the paper); 0 = off',
    kind: 'number',
    min: 0,
    step: 'any',
  },
  { key: 'inputDropout', label: 'Dropout, input', title: 'Probability of dropping each pixel while training; 0 = off', kind: 'number', min: 0, step: 'any' },
  {
    key: 'maxNorm',
    label: 'Max-norm',
    title: 'After each update, rescale every unit’s incoming weights whose L2 norm exceeds this to this norm (not in the paper); 0 = off',
    kind: 'number',
    min: 0,
    step: 'any',
  },
  { key: 'epochs', label: 'Epochs', title: 'Stop after this many epochs; can be raised while training', kind: 'number', min: 1, step: '1', live: true },
  { key: 'seed', label: 'Seed', title: 'Seed of the initialisation and of the shuffling', kind: 'number', min: 0, step: '1' },
];

export class RunForm {
  readonly root: HTMLElement;
  private inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  /** Optimiser settings beyond the kind (kept from a loaded checkpoint). */
  private optimizerExtra = { ...DEFAULT_OPTIMIZER };
  onInput: () => void = () => {};
  private paperButton?: HTMLButtonElement;

  constructor(
    readonly id: RunId,
    host: HTMLElement,
  ) {
    this.root = host;
    host.classList.add('run-form');
    for (const f of FIELDS) {
      const label = document.createElement('label');
      label.title = f.title;
      const span = document.createElement('span');
      span.textContent = f.label;
      label.append(span);
      let el: HTMLInputElement | HTMLSelectElement;
      if (f.kind === 'select') {
        el = document.createElement('select');
        for (const [value, text] of f.options) el.append(new Option(text, value));
      } else {
        el = document.createElement('input');
        el.type = f.kind === 'number' ? 'number' : 'text';
        if (f.kind === 'number') {
          el.min = String(f.min);
          el.step = f.step;
        }
        if (f.kind === 'text' && f.list) {
          const list = document.createElement('datalist');
          list.id = `${id}-${f.key}-list`;
          for (const v of f.list) list.append(new Option(v));
          host.append(list);
          el.setAttribute('list', list.id);
        }
      }
      el.id = `${id}-${f.key}`;
      el.name = `${id}.${f.key === 'optimizerKind' ? 'optimizer' : f.key}`;
      if (f.live) el.dataset.live = '1';
      label.append(el);
      host.append(label);
      this.inputs.set(f.key, el);
      el.addEventListener('change', () => this.onInput());
      if (f.key === 'hidden') {
        // The paper's network, one click away (slow on a software adapter).
        const hint = document.createElement('div');
        hint.className = 'hint';
        const paper = document.createElement('button');
        paper.type = 'button';
        paper.className = 'link';
        paper.id = `${id}-paper-net`;
        paper.textContent = 'the paper’s 1000-1000-1000';
        paper.title = 'Glorot, Bordes & Bengio (2011): 784-1000-1000-1000-10';
        paper.addEventListener('click', () => {
          el.value = '1000,1000,1000';
          this.onInput();
        });
        this.paperButton = paper;
        hint.append('e.g. 256,256 or ', paper);
        host.append(hint);
      }
    }
    // A new optimiser brings its usual learning rate unless one was typed.
    const kind = this.inputs.get('optimizerKind')!;
    let lastKind = kind.value as keyof typeof DEFAULT_LR;
    kind.addEventListener('change', () => {
      const lr = this.inputs.get('lr')!;
      if (Number(lr.value) === DEFAULT_LR[lastKind]) lr.value = String(DEFAULT_LR[kind.value as keyof typeof DEFAULT_LR]);
      lastKind = kind.value as keyof typeof DEFAULT_LR;
    });
    this.fill(DEFAULT_CONFIG);
  }

  input(key: string) {
    return this.inputs.get(key)!;
  }

  /** Put a config into the form (options missing from a select are added). */
  fill(c: RunConfig) {
    const set = (key: string, v: string) => {
      const el = this.inputs.get(key)!;
      if (el instanceof HTMLSelectElement && !Array.from(el.options).some((o) => o.value === v)) el.append(new Option(v, v));
      el.value = v;
    };
    set('hidden', c.hidden.join(','));
    set('activation', c.activation);
    set('l1', String(c.l1));
    set('optimizerKind', c.optimizer.kind);
    set('lr', String(c.lr));
    set('batch', String(c.batch));
    set('init', c.init);
    set('trainExamples', String(c.trainExamples));
    set('testExamples', String(c.testExamples));
    set('epochs', String(c.epochs));
    set('seed', String(c.seed));
    set('deadUnits', c.deadUnits);
    set('dropout', String(c.dropout));
    set('inputDropout', String(c.inputDropout));
    set('maxNorm', String(c.maxNorm));
    this.optimizerExtra = { ...c.optimizer };
  }

  /** The form's config; throws a message naming the field when a value is unusable. */
  read(): RunConfig {
    const v = (key: string) => this.inputs.get(key)!.value.trim();
    const name = (key: string) => `run ${this.id}: ${FIELDS.find((f) => f.key === key)!.label.toLowerCase()}`;
    const num = (key: string, ok: (x: number) => boolean, what: string) => {
      const x = Number(v(key));
      if (v(key) === '' || !Number.isFinite(x) || !ok(x)) throw new Error(`${name(key)} must be ${what}, not “${v(key)}”`);
      return x;
    };
    const parts = v('hidden')
      .split(/[\s,x×-]+/)
      .filter(Boolean);
    const hidden = parts.map(Number);
    if (!parts.length || hidden.some((h) => !Number.isInteger(h) || h < 1 || h > 8192) || hidden.length > 12) {
      throw new Error(`${name('hidden')} must be 1 to 12 whole numbers from 1 to 8192, comma-separated (e.g. 1000,1000,1000), not “${v('hidden')}”`);
    }
    const kind = v('optimizerKind') as RunConfig['optimizer']['kind'];
    const policy = (p: string): DeadUnitPolicy => {
      if (!(DEAD_UNIT_POLICIES as readonly string[]).includes(p))
        throw new Error(`${name('deadUnits')} must be one of ${DEAD_UNIT_POLICIES.join(', ')}, not “${p}”`);
      return p as DeadUnitPolicy;
    };
    return {
      hidden,
      activation: v('activation') as RunConfig['activation'],
      l1: num('l1', (x) => x >= 0, 'a number ≥ 0'),
      optimizer: { ...this.optimizerExtra, kind },
      lr: num('lr', (x) => x > 0, 'a positive number'),
      batch: num('batch', (x) => Number.isInteger(x) && x > 0, 'a positive whole number'),
      init: v('init') as RunConfig['init'],
      trainExamples: num('trainExamples', (x) => Number.isInteger(x) && x > 0, 'a positive whole number'),
      testExamples: num('testExamples', (x) => Number.isInteger(x) && x > 0, 'a positive whole number'),
      epochs: num('epochs', (x) => Number.isInteger(x) && x >= 1, 'a whole number ≥ 1'),
      seed: num('seed', (x) => Number.isInteger(x) && x >= 0, 'a whole number ≥ 0'),
      deadUnits: policy(v('deadUnits')),
      dropout: num('dropout', (x) => x >= 0 && x < 1, 'a drop probability from 0 up to 1 (not 1)'),
      inputDropout: num('inputDropout', (x) => x >= 0 && x < 1, 'a drop probability from 0 up to 1 (not 1)'),
      maxNorm: num('maxNorm', (x) => x >= 0, 'a number ≥ 0 (0 = off)'),
    };
  }

  /** While a run exists only the live fields (learning rate, epochs) stay editable. */
  lock(locked: boolean) {
    for (const el of this.inputs.values()) el.disabled = locked && el.dataset.live !== '1';
    if (this.paperButton) this.paperButton.disabled = locked;
  }

  /** Apply `?A.key=value` parameters; returns the keys it set. */
  applyParams(params: URLSearchParams): string[] {
    const set: string[] = [];
    for (const el of this.inputs.values()) {
      const value = params.get(el.name);
      if (value === null) continue;
      if (el instanceof HTMLSelectElement && !Array.from(el.options).some((o) => o.value === value)) el.append(new Option(value, value));
      el.value = value;
      set.push(el.name);
    }
    return set;
  }
}

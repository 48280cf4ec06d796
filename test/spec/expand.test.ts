// Expansion: grid, seeded random and list strategies; stable trial ids and specHashes; the
// command each trial runs, quoted for a real shell. Jobs come from YAML text through the loader.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { expandJob, gridSize, prng } from '../../src/spec/expand.js';
import { loadText } from '../../src/spec/load.js';
import type { Job, Parameters, Trial } from '../../src/spec/types.js';

const repoRoot = resolve(import.meta.dirname, '../..');

function loadJob(text: string): Job {
  const { jobs, diagnostics } = loadText(text, 'job.yaml', { cwd: repoRoot, dir: repoRoot, defaultOutputUri: 'file:///tmp/trainctl-runs/' });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  expect(jobs).toHaveLength(1);
  return jobs[0]!;
}

type Doc = { metadata?: Record<string, unknown>; spec: Record<string, unknown> };

/** A job document: `code.path: .` (the repo root), local compute, plus `spec`. */
function doc(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Doc {
  return {
    metadata: { name: 'sweep', project: 'lab', ...metadata },
    spec: { compute: { provider: 'local' }, code: { path: '.', command: 'python3 train.py --lr {lr}' }, ...spec },
  };
}

const text = (d: Doc) => stringify({ apiVersion: 'trainctl.dev/v1', kind: 'TrainJob', ...d });
const expand = (d: Doc): Trial[] => expandJob(loadJob(text(d))).trials;
const values = (ts: Trial[]) => ts.map((t) => t.parameters);

const GRID = { parameters: { lr: [0.1, 0.01], batch_size: [32, 64, 128] } };

describe('grid', () => {
  it('is the cartesian product, parameter names sorted, the first name varying slowest, values as written', () => {
    const ts = expand(doc({ hyperparameters: GRID }));
    expect(values(ts)).toEqual([
      { batch_size: 32, lr: 0.1 }, { batch_size: 32, lr: 0.01 },
      { batch_size: 64, lr: 0.1 }, { batch_size: 64, lr: 0.01 },
      { batch_size: 128, lr: 0.1 }, { batch_size: 128, lr: 0.01 },
    ]);
    expect(ts.map((t) => t.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ts.every((t) => t.job === 'sweep' && t.project === 'lab')).toBe(true);
    expect(new Set(ts.map((t) => t.id)).size).toBe(6);
    expect(new Set(ts.map((t) => t.specHash)).size).toBe(6);
    expect(gridSize(GRID.parameters)).toBe(6);
  });

  it('keeps parameter keys sorted in each trial, whatever the YAML order', () => {
    const ts = expand(doc({ hyperparameters: { parameters: { zeta: [1], alpha: ['x'], lr: [0.5] } } }));
    expect(Object.keys(ts[0]!.parameters)).toEqual(['alpha', 'lr', 'zeta']);
  });

  it('gives one trial with no parameters, and with no hyperparameters block at all', () => {
    for (const d of [doc({ code: { path: '.', command: 'python3 train.py' }, hyperparameters: { parameters: {} } }), doc({ code: { path: '.', command: 'python3 train.py' } })]) {
      const ts = expand(d);
      expect(ts).toHaveLength(1);
      expect(ts[0]).toMatchObject({ index: 0, parameters: {}, command: 'python3 train.py' });
      expect(ts[0]!.id).toMatch(/^sweep-[0-9a-f]{8}$/);
    }
  });

  it('keeps value types: strings, booleans, integers and reals are distinct values', () => {
    const ts = expand(doc({ code: { path: '.', command: 'run {v}' }, hyperparameters: { parameters: { v: ['1', 1, 1.5, true, 'true'] } } }));
    expect(ts.map((t) => t.parameters.v)).toEqual(['1', 1, 1.5, true, 'true']);
    expect(new Set(ts.map((t) => t.id)).size).toBe(5);
  });
});

const RANDOM = {
  strategy: 'random', samples: 300, seed: 7,
  parameters: {
    lr: { distribution: 'log_uniform', min: 0.00001, max: 0.1 },
    dropout: { distribution: 'uniform', min: 0.1, max: 0.5 },
    layers: { distribution: 'int_uniform', min: 2, max: 5 },
    act: ['relu', 'gelu', 'tanh'],
  },
};

describe('random', () => {
  const base = expand(doc({ hyperparameters: RANDOM }));

  it('draws the same trials for the same seed and different ones for another seed', () => {
    expect(base).toHaveLength(300);
    expect(JSON.stringify(expand(doc({ hyperparameters: RANDOM })))).toBe(JSON.stringify(base));
    const other = expand(doc({ hyperparameters: { ...RANDOM, seed: 8 } }));
    expect(values(other)).not.toEqual(values(base));
    expect(other.filter((t, i) => t.id === base[i]!.id)).toHaveLength(0);
  });

  it('keeps values inside [min, max]: reals, positive log-uniform, inclusive integers, choices from the list', () => {
    for (const { parameters: p } of base) {
      expect(p.lr).toBeGreaterThanOrEqual(0.00001);
      expect(p.lr).toBeLessThanOrEqual(0.1);
      expect(p.lr).toBeGreaterThan(0);
      expect(p.dropout).toBeGreaterThanOrEqual(0.1);
      expect(p.dropout).toBeLessThanOrEqual(0.5);
      expect(Number.isInteger(p.layers)).toBe(true);
      expect(['relu', 'gelu', 'tanh']).toContain(p.act);
    }
    // both integer bounds are reached, and every choice is drawn
    expect(new Set(base.map((t) => t.parameters.layers))).toEqual(new Set([2, 3, 4, 5]));
    expect(new Set(base.map((t) => t.parameters.act))).toEqual(new Set(['relu', 'gelu', 'tanh']));
    // log-uniform spreads over the decades rather than bunching at the top
    const decades = new Set(base.map((t) => Math.floor(Math.log10(t.parameters.lr as number))));
    expect(decades).toEqual(new Set([-5, -4, -3, -2]));
  });

  it('rounds reals to six significant digits', () => {
    for (const { parameters: p } of base) {
      for (const v of [p.lr, p.dropout]) expect(Number((v as number).toPrecision(6))).toBe(v);
    }
  });

  it('stays inside bounds written with more than six significant digits', () => {
    const ts = expand(doc({
      code: { path: '.', command: 'run' },
      hyperparameters: { strategy: 'random', samples: 200, seed: 3, parameters: {
        u: { distribution: 'uniform', min: 0.9999991, max: 0.9999996 },
        g: { distribution: 'log_uniform', min: 1.0000004, max: 1.0000009 },
      } },
    }));
    expect(ts.length).toBeGreaterThan(0);
    for (const { parameters: p } of ts) {
      expect(p.u).toBeGreaterThanOrEqual(0.9999991);
      expect(p.u).toBeLessThanOrEqual(0.9999996);
      expect(p.g).toBeGreaterThanOrEqual(1.0000004);
      expect(p.g).toBeLessThanOrEqual(1.0000009);
    }
  });

  it('drops repeated draws and counts them', () => {
    const job = loadJob(text(doc({ code: { path: '.', command: 'run --n {n}' }, hyperparameters: { strategy: 'random', samples: 50, seed: 1, parameters: { n: { distribution: 'int_uniform', min: 1, max: 3 } } } })));
    const { trials, duplicates } = expandJob(job);
    expect(trials.map((t) => t.parameters.n).sort()).toEqual([1, 2, 3]);
    expect(duplicates).toBe(47);
    expect(trials.map((t) => t.index)).toEqual([0, 1, 2]);
  });

  it('uses a generator that is uniform enough and seed-stable', () => {
    const a = prng(42);
    const b = prng(42);
    const xs = Array.from({ length: 20_000 }, () => a());
    expect(xs.slice(0, 50)).toEqual(Array.from({ length: 50 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const buckets = new Array<number>(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]!++;
    for (const n of buckets) expect(Math.abs(n - 2000)).toBeLessThan(250);
  });
});

describe('list', () => {
  it('gives the trials as written, in order', () => {
    const trials = [{ lr: 0.1, batch_size: 32 }, { batch_size: 16, lr: 0.3 }, { lr: 0.01, batch_size: 32 }];
    const ts = expand(doc({ hyperparameters: { strategy: 'list', trials } }));
    expect(values(ts)).toEqual([{ batch_size: 32, lr: 0.1 }, { batch_size: 16, lr: 0.3 }, { batch_size: 32, lr: 0.01 }]);
    expect(ts.map((t) => t.command)).toEqual([
      'python3 train.py --lr 0.1 --batch_size=32', 'python3 train.py --lr 0.3 --batch_size=16', 'python3 train.py --lr 0.01 --batch_size=32',
    ]);
  });

  it('gives a list trial the id and specHash of the grid trial with the same values', () => {
    const grid = expand(doc({ hyperparameters: { parameters: { lr: [0.1], batch_size: [32] } } }));
    const list = expand(doc({ hyperparameters: { strategy: 'list', trials: [{ lr: 0.1, batch_size: 32 }] } }));
    expect(list[0]!.id).toBe(grid[0]!.id);
    expect(list[0]!.specHash).toBe(grid[0]!.specHash);
  });
});

describe('ids and specHash', () => {
  const yamlA = `apiVersion: trainctl.dev/v1
kind: TrainJob
metadata: { name: sweep, project: lab, labels: { team: a } }
spec:
  compute: { provider: local, gpus: 1 }
  code: { path: ., command: "python3 train.py --lr {lr}", env: { A: "1", B: "2" } }
  checkpoint: { dir: ckpt/, keepLastN: 2 }
  hyperparameters:
    strategy: grid
    parameters: { lr: [0.1, 0.01], batch_size: [32, 64], opt: [adam] }
    maxParallel: 2
`;
  // the same job with every mapping's keys in another order
  const yamlB = `kind: TrainJob
spec:
  hyperparameters:
    maxParallel: 2
    parameters:
      opt: [adam]
      batch_size: [32, 64]
      lr: [0.1, 0.01]
    strategy: grid
  checkpoint: { keepLastN: 2, dir: ckpt/ }
  code: { env: { B: "2", A: "1" }, command: "python3 train.py --lr {lr}", path: . }
  compute: { gpus: 1, provider: local }
metadata: { labels: { team: a }, project: lab, name: sweep }
apiVersion: trainctl.dev/v1
`;

  it('are `<job>-<8 hex>` and independent of YAML key order; the same spec gives byte-identical trials', () => {
    const a = expandJob(loadJob(yamlA)).trials;
    const b = expandJob(loadJob(yamlB)).trials;
    expect(a).toHaveLength(4);
    for (const t of a) expect(t.id).toMatch(/^sweep-[0-9a-f]{8}$/);
    for (const t of a) expect(t.specHash).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(expandJob(loadJob(yamlA)).trials)).toBe(JSON.stringify(a));
  });

  it('the id depends on the parameter values only', () => {
    const a = expand(doc({ hyperparameters: GRID }));
    const b = expand(doc({ code: { path: '.', command: 'python3 other.py --lr {lr}' }, hyperparameters: { ...GRID, maxParallel: 1 } }, { name: 'sweep' }));
    expect(b.map((t) => t.id)).toEqual(a.map((t) => t.id));
    const renamed = expand(doc({ hyperparameters: GRID }, { name: 'other' }));
    expect(renamed.map((t) => t.id.slice('other-'.length))).toEqual(a.map((t) => t.id.slice('sweep-'.length)));
  });

  // one trial, {lr: 0.1, batch_size: 32}, under variations of its job
  const BASE = { hyperparameters: { parameters: { lr: [0.1], batch_size: [32] } } };
  const hashOf = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => {
    const ts = expand(doc({ ...BASE, ...spec }, metadata));
    expect(ts).toHaveLength(1);
    return ts[0]!;
  };
  const base = () => hashOf({});

  it.each<[string, Record<string, unknown>]>([
    ['the command', { code: { path: '.', command: 'python3 train2.py --lr {lr}' } }],
    ['code.setup', { code: { path: '.', command: 'python3 train.py --lr {lr}', setup: 'pip install -r requirements.txt' } }],
    ['code.env', { code: { path: '.', command: 'python3 train.py --lr {lr}', env: { SEED: '1' } } }],
    ['compute', { compute: { provider: 'local', gpus: 2 } }],
    ['data', { data: [{ source: 's3://bucket/datasets/x/', target: 'data/' }] }],
    ['checkpoint.dir', { checkpoint: { dir: 'ckpt/' } }],
    ['checkpoint.resumeArg', { checkpoint: { resumeArg: '--from {path}' } }],
    ['distributed', { distributed: { nodes: 2 } }],
    ['passAs', { hyperparameters: { ...BASE.hyperparameters, passAs: 'env' } }],
  ])('specHash changes with %s', (_what, spec) => {
    const t = hashOf(spec);
    expect(t.id).toBe(base().id);
    expect(t.specHash).not.toBe(base().specHash);
  });

  it('specHash changes with a parameter value (and so does the id)', () => {
    const t = hashOf({ hyperparameters: { parameters: { lr: [0.1], batch_size: [64] } } });
    expect(t.id).not.toBe(base().id);
    expect(t.specHash).not.toBe(base().specHash);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>?]>([
    ['limits', { limits: { costUSD: 5, maxDuration: '2h', onExceed: 'warn' } }],
    ['retry', { retry: { onFailure: 3, onSpotInterruption: 1 } }],
    ['maxParallel and stopOnFailure', { hyperparameters: { ...BASE.hyperparameters, maxParallel: 1, stopOnFailure: true } }],
    ['labels', {}, { labels: { team: 'b' }, description: 'other words' }],
    ['the output uri', { output: { uri: 's3://other-bucket/runs/' } }],
    ['checkpoint.resume (the planner\'s policy)', { checkpoint: { resume: 'never' } }],
  ])('specHash does not change with %s', (_what, spec, metadata) => {
    const t = hashOf(spec, metadata);
    expect(t.id).toBe(base().id);
    expect(t.specHash).toBe(base().specHash);
  });

  it('specHash does not change with the schedule; the slot goes at the end of the id', () => {
    const [t] = expandJob(loadJob(text(doc({ ...BASE, schedule: { cron: '0 2 * * *' } }))), ['20261125t0200']).trials;
    expect(t!.id).toBe(`${base().id}-20261125t0200`);
    expect(t!.specHash).toBe(base().specHash);
  });
});

/** Runs `cmd` in a real sh, returning the lines it prints. */
const sh = (cmd: string): string[] => execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).split('\n').slice(0, -1);

describe('the trial command', () => {
  it('with passAs args appends `--name=value` for parameters the command does not name, shell-quoted', () => {
    const ts = expand(doc({ hyperparameters: { strategy: 'list', trials: [{ lr: 0.1, opt: 'adam w', warmup: true }] } }));
    expect(ts[0]!.command).toBe("python3 train.py --lr 0.1 '--opt=adam w' --warmup=true");
  });

  it('with passAs env appends nothing', () => {
    const ts = expand(doc({ hyperparameters: { strategy: 'list', passAs: 'env', trials: [{ lr: 0.1, opt: 'adam w' }] } }));
    expect(ts[0]!.command).toBe('python3 train.py --lr 0.1');
  });

  it('leaves braces that are not placeholders alone', () => {
    const ts = expand(doc({ code: { path: '.', command: `python3 -c 'print({})' {lr} { lr }` }, hyperparameters: { parameters: { lr: [0.5] } } }));
    expect(ts[0]!.command).toBe(`python3 -c 'print({})' 0.5 { lr }`);
  });

  it('quotes substituted values so a real shell gets them back byte for byte', () => {
    const nasty: Parameters[] = [
      { msg: 'two words', extra: "it's" },
      { msg: `"double" and 'single' quotes`, extra: '$HOME `id` $(id) \\ ; | & > < * ? ~ # !' },
      { msg: "'", extra: '' },
      { msg: 'tab\there\nnewline', extra: '-n' },
      { msg: 'ünïcödé ✓', extra: '--x=1 --y=2' },
    ];
    const ts = expand(doc({ code: { path: '.', command: 'printf "%s\\n" {msg}' }, hyperparameters: { strategy: 'list', trials: nasty } }));
    expect(ts).toHaveLength(nasty.length);
    for (const t of ts) {
      // {msg} substituted in place; extra appended as --extra=value (passAs args)
      const printed = sh(t.command).join('\n');
      expect(printed).toBe(`${t.parameters.msg}\n--extra=${t.parameters.extra}`);
    }
  });

  it('quotes values for an env-style command too', () => {
    const ts = expand(doc({ code: { path: '.', command: 'printf "%s|%s\\n" {a} {b}' }, hyperparameters: { strategy: 'list', passAs: 'env', trials: [{ a: 'x y', b: "o'k" }] } }));
    expect(sh(ts[0]!.command)).toEqual(["x y|o'k"]);
  });
});

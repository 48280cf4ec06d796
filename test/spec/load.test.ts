// The loader's good paths: files, directories and several -f inputs; multi-document files;
// defaults filled in from the schema; output URIs; warnings that do not block loading.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/core/diagnostics.js';
import { loadSpecs, loadText, type LoadOptions } from '../../src/spec/load.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DEFAULT_OUTPUT = 'file:///tmp/trainctl-test-runs';
const temps: string[] = [];
afterAll(() => { for (const t of temps) rmSync(t, { recursive: true, force: true }); });

/** A temp directory with the given files (path → content); directories are created as needed. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'trainctl-load-'));
  temps.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function spec(name: string, extra = '', project = 'default'): string {
  return `apiVersion: trainctl.dev/v1\nkind: TrainJob\nmetadata: { name: ${name}, project: ${project} }\nspec:\n  code: { path: ., command: python3 train.py }\n${extra}`;
}

const opts = (cwd: string): LoadOptions => ({ cwd, defaultOutputUri: DEFAULT_OUTPUT });
const shown = (ds: Parameters<typeof formatDiagnostic>[0][]) => ds.map(formatDiagnostic);

describe('inputs', () => {
  it('loads every document of a multi-document file, in order, ignoring a trailing ---', () => {
    const { jobs, diagnostics } = loadSpecs(['test/fixtures/good/multi-document.yaml'], opts(root));
    expect(diagnostics).toEqual([]);
    expect(jobs.map((j) => [j.project, j.name, j.source])).toEqual([
      ['multi', 'baseline', { file: 'test/fixtures/good/multi-document.yaml', line: 4, col: 19 }],
      ['multi', 'ddp-cpu', { file: 'test/fixtures/good/multi-document.yaml', line: 10, col: 19 }],
    ]);
    expect(jobs[1]!.spec.distributed).toMatchObject({ nodes: 2, nprocPerNode: 2 });
  });

  it('walks a directory recursively, in name order, reading only .yaml/.yml and skipping dot and node_modules directories', () => {
    const dir = tree({
      'b.yaml': spec('b'),
      'a.YML': spec('a'),
      'nested/deeper/c.yaml': spec('c'),
      'nested/d.yml': spec('d'),
      'notes.txt': 'not: [yaml',
      'README.md': '# not a spec',
      'train.py': 'print("hi")\n',
      'config.json': '{"apiVersion": 1}',
      '.github/workflow.yaml': 'on: push',
      'node_modules/pkg/x.yaml': 'nope: [',
    });
    const { jobs, diagnostics } = loadSpecs(['.'], opts(dir));
    expect(diagnostics).toEqual([]);
    expect(jobs.map((j) => [j.name, j.source.file])).toEqual([
      ['a', 'a.YML'], ['b', 'b.yaml'], ['d', 'nested/d.yml'], ['c', 'nested/deeper/c.yaml'],
    ]);
    expect(jobs[3]!.spec.code.absPath).toBe(join(dir, 'nested/deeper'));
  });

  it('takes several -f inputs, files and directories, and reads a file named twice once', () => {
    const dir = tree({ 'one.yaml': spec('one'), 'more/two.yaml': spec('two'), 'more/three.yaml': spec('three') });
    const { jobs, diagnostics } = loadSpecs(['one.yaml', 'more', join(dir, 'more/two.yaml'), './one.yaml'], opts(dir));
    expect(diagnostics).toEqual([]);
    expect(jobs.map((j) => j.name)).toEqual(['one', 'three', 'two']);
  });

  it('reports a missing input and an empty directory at file level, and loads no job then', () => {
    const dir = tree({ 'ok.yaml': spec('ok'), 'empty/readme.txt': 'nothing here' });
    const { jobs, diagnostics } = loadSpecs(['ok.yaml', 'nope.yaml', 'empty'], opts(dir));
    expect(shown(diagnostics)).toEqual([
      'empty: error: directory holds no .yaml or .yml files',
      'nope.yaml: error: no such file or directory — check the path given to -f',
    ]);
    expect(jobs).toEqual([]);
  });

  it('shows files outside the working directory by their absolute path', () => {
    const dir = tree({ 'x.yaml': spec('x', '  limits: { costUSD: 0 }\n') });
    const { diagnostics } = loadSpecs([join(dir, 'x.yaml')], opts(root));
    expect(shown(diagnostics)).toEqual([`${join(dir, 'x.yaml')}:6:22: error: spec.limits.costUSD must be > 0, got 0`]);
  });

  it('finds the same job name in two files of one project, but not across projects', () => {
    const dir = tree({ 'a.yaml': spec('train', '', 'p1'), 'b.yaml': spec('train', '', 'p1'), 'c.yaml': spec('train', '', 'p2') });
    const { jobs, diagnostics } = loadSpecs(['.'], opts(dir));
    expect(shown(diagnostics)).toEqual([
      'b.yaml:3:19: error: duplicate job "train" in project "p1" — first defined at a.yaml:3; job names are unique within a project',
    ]);
    expect(jobs).toEqual([]);
  });

  it('reports every file\'s problems at once, sorted by file and position', () => {
    const dir = tree({
      'b.yaml': spec('b', '  retry: { onFailure: -1 }\n  limits: { costUSD: 0 }\n'),
      'a.yaml': spec('a', '  checkpoint: { keepLast: 2 }\n'),
    });
    const { jobs, diagnostics } = loadSpecs(['b.yaml', 'a.yaml'], opts(dir));
    expect(shown(diagnostics)).toEqual([
      'a.yaml:6:17: error: unknown key "keepLast" in spec.checkpoint — did you mean "keepLastN"?',
      'b.yaml:6:23: error: spec.retry.onFailure must be >= 0, got -1',
      'b.yaml:7:22: error: spec.limits.costUSD must be > 0, got 0',
    ]);
    expect(jobs).toEqual([]);
  });

  it('reports an empty file, a comment-only file and a file of empty documents as holding no TrainJob', () => {
    const dir = tree({ 'empty.yaml': '', 'comments.yaml': '# nothing yet\n', 'dashes.yaml': '---\n---\n' });
    const { diagnostics } = loadSpecs(['empty.yaml', 'comments.yaml', 'dashes.yaml'], opts(dir));
    expect(shown(diagnostics)).toEqual(['comments.yaml', 'dashes.yaml', 'empty.yaml'].map(
      (f) => `${f}: error: file holds no TrainJob document — run \`trainctl init\` for a starter trainjob.yaml`));
  });
});

describe('defaults', () => {
  const minimal = (extra = '') => {
    const dir = tree({ 'job.yaml': spec('minimal', extra) });
    const { jobs, diagnostics } = loadSpecs(['job.yaml'], opts(dir));
    expect(diagnostics).toEqual([]);
    expect(jobs).toHaveLength(1);
    return { dir, job: jobs[0]! };
  };

  it('fills in every default of a minimal local job', () => {
    const { dir, job } = minimal();
    expect(job).toMatchObject({ name: 'minimal', project: 'default', labels: {} });
    expect(job.spec).toEqual({
      compute: { provider: 'local', gpus: 0 },
      code: { path: '.', command: 'python3 train.py', env: {}, absPath: join(dir, '.') },
      data: [],
      output: { uri: DEFAULT_OUTPUT },
      checkpoint: { dir: 'checkpoints/', pattern: '*', keepLastN: 3, upload: 'on-save', resume: 'auto', resumeArg: '--resume {path}', compress: 'none', gracePeriod: '60s' },
      hyperparameters: { strategy: 'grid', parameters: {}, seed: 0, maxParallel: 4, stopOnFailure: false, passAs: 'args' },
      distributed: { strategy: 'ddp', nodes: 1, nprocPerNode: 1, backend: 'auto' },
      metrics: { patterns: {} },
      limits: { onExceed: 'stop' },
      retry: { onSpotInterruption: 5, onFailure: 0, fallbackToOnDemandAfter: 2 },
    });
  });

  it('fills in defaults inside blocks that are given in part', () => {
    const { job } = minimal([
      '  checkpoint: { keepLastN: 7 }',
      '  retry: { onFailure: 2 }',
      '  data: [ { source: "s3://my-data/x/", target: data/ } ]',
      '  schedule: { cron: "0 2 * * *" }',
      '  metrics: { objective: { metric: loss }, earlyStopping: {} }',
      '',
    ].join('\n'));
    expect(job.spec.checkpoint).toMatchObject({ keepLastN: 7, dir: 'checkpoints/', resume: 'auto' });
    expect(job.spec.retry).toEqual({ onSpotInterruption: 5, onFailure: 2, fallbackToOnDemandAfter: 2 });
    expect(job.spec.data).toEqual([{ source: 's3://my-data/x/', target: 'data/', verify: 'etag' }]);
    expect(job.spec.schedule).toEqual({ cron: '0 2 * * *', timezone: 'UTC', concurrencyPolicy: 'Forbid' });
    expect(job.spec.metrics).toEqual({ patterns: {}, objective: { metric: 'loss', goal: 'minimize' }, earlyStopping: { rule: 'median', minTrials: 3, startStep: 0 } });
  });

  it('fills in the defaults of the provider the job names', () => {
    const aws = loadSpecs(['test/fixtures/good/aws-spot-ddp.yaml'], opts(root)).jobs[0]!;
    expect(aws.spec.compute).toMatchObject({ provider: 'aws', market: 'spot-with-fallback', volumeGiB: 200 });
    const { job } = minimal('  compute: { provider: aws, instanceType: g5.xlarge }\n  output: { uri: "s3://my-runs/x/" }\n');
    expect(job.spec.compute).toEqual({ provider: 'aws', instanceType: 'g5.xlarge', market: 'spot-with-fallback', volumeGiB: 100 });
    const runpod = minimal('  compute: { provider: runpod, gpuType: NVIDIA A40 }\n  output: { uri: "s3://my-runs/x/" }\n').job;
    expect(runpod.spec.compute).toEqual({
      provider: 'runpod', gpuType: 'NVIDIA A40', gpuCount: 1, cloudType: 'ALL', interruptible: false,
      image: 'runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04', volumeGiB: 50, containerDiskGiB: 20,
    });
  });

  it('does not share default objects between jobs', () => {
    const dir = tree({ 'a.yaml': spec('a'), 'b.yaml': spec('b') });
    const [a, b] = loadSpecs(['.'], opts(dir)).jobs;
    a!.spec.code.env.X = '1';
    a!.spec.hyperparameters.parameters.lr = [1];
    expect(b!.spec.code.env).toEqual({});
    expect(b!.spec.hyperparameters.parameters).toEqual({});
  });
});

describe('output and data URIs', () => {
  it('gives a local job with no output the default output URI', () => {
    const dir = tree({ 'job.yaml': spec('j') });
    expect(loadSpecs(['job.yaml'], { cwd: dir, defaultOutputUri: 'file:///srv/runs/' }).jobs[0]!.spec.output.uri).toBe('file:///srv/runs/');
  });

  it('reads file://./dir relative to the spec file, not to the working directory', () => {
    const dir = tree({ 'specs/job.yaml': spec('j', '  output: { uri: "file://./runs/" }\n  data: [ { source: "file://./datasets/mnist", target: data/ } ]\n') });
    const job = loadSpecs(['specs/job.yaml'], opts(dir)).jobs[0]!;
    expect(job.spec.output.uri).toBe(`${pathToFileURL(join(dir, 'specs/runs')).href}/`);
    expect(job.spec.data[0]!.source).toBe(pathToFileURL(join(dir, 'specs/datasets/mnist')).href);
    expect(fileURLToPath(job.spec.output.uri)).toBe(`${join(dir, 'specs/runs')}/`);
  });

  it('keeps absolute file:// and s3:// URIs as written', () => {
    const dir = tree({ 'job.yaml': spec('j', '  output: { uri: "file:///var/runs/" }\n  data: [ { source: "s3://my-data/x/", target: d/ } ]\n') });
    const job = loadSpecs(['job.yaml'], opts(dir)).jobs[0]!;
    expect(job.spec.output.uri).toBe('file:///var/runs/');
    expect(job.spec.data[0]!.source).toBe('s3://my-data/x/');
  });
});

describe('warnings', () => {
  it('reports samples and seed under grid as warnings and still loads the job', () => {
    const dir = tree({ 'job.yaml': spec('j', '  hyperparameters:\n    samples: 5\n    seed: 3\n    parameters: { lr: [0.1] }\n') });
    const { jobs, diagnostics } = loadSpecs(['job.yaml'], opts(dir));
    expect(shown(diagnostics)).toEqual([
      'job.yaml:7:5: warning: `samples` is only read by strategy random; strategy is grid',
      'job.yaml:8:5: warning: `seed` is only read by strategy random; strategy is grid',
    ]);
    expect(jobs.map((j) => j.name)).toEqual(['j']);
  });

  it('keeps warnings from a loaded job next to another file\'s errors, and then loads nothing', () => {
    const dir = tree({
      'a.yaml': spec('a', '  compute: { provider: local, gpus: [0] }\n  distributed: { nprocPerNode: 2 }\n'),
      'b.yaml': spec('b', '  retry: { onFailure: -1 }\n'),
    });
    const { jobs, diagnostics } = loadSpecs(['.'], opts(dir));
    expect(shown(diagnostics)).toEqual([
      'a.yaml:7:32: warning: nprocPerNode 2 is more than the 1 GPU listed in compute.gpus',
      'b.yaml:6:23: error: spec.retry.onFailure must be >= 0, got -1',
    ]);
    expect(jobs).toEqual([]);
  });

  it('warns about maxPricePerHour with on-demand and about an unknown YAML tag without blocking', () => {
    const dir = tree({ 'job.yaml': spec('j', '  compute: { provider: aws, instanceType: g5.xlarge, market: on-demand, maxPricePerHour: 2 }\n  output: { uri: "s3://my-runs/x/" }\n  code: !custom { path: ., command: x }\n').replace('  code: { path: ., command: python3 train.py }\n', '') });
    const { jobs, diagnostics } = loadSpecs(['job.yaml'], opts(dir));
    expect(shown(diagnostics)).toEqual([
      'job.yaml:5:73: warning: maxPricePerHour applies to spot only; market is on-demand',
      'job.yaml:7:9: warning: YAML: unresolved tag: !custom',
    ]);
    expect(jobs).toHaveLength(1);
  });
});

describe('good specs', () => {
  const good = [
    ...readdirSync(join(root, 'jobs.example')).filter((f) => f.endsWith('.yaml')).map((f) => `jobs.example/${f}`),
    ...readdirSync(join(root, 'test/fixtures/good')).filter((f) => f.endsWith('.yaml')).map((f) => `test/fixtures/good/${f}`),
  ].sort();

  it.each(good)('%s loads with no diagnostics', (file) => {
    const { jobs, diagnostics } = loadSpecs([file], opts(root));
    expect(shown(diagnostics)).toEqual([]);
    expect(jobs.length).toBeGreaterThan(0);
  });

  it('all of them load together: job names are unique per project', () => {
    const { jobs, diagnostics } = loadSpecs(good, opts(root));
    expect(shown(diagnostics)).toEqual([]);
    expect(jobs.length).toBeGreaterThanOrEqual(good.length);
  });

  it('keeps what the richer fixtures say', () => {
    const byName = new Map(loadSpecs(['test/fixtures/good'], opts(root)).jobs.map((j) => [j.name, j]));
    const random = byName.get('llm-lora-search')!;
    expect(random.spec.hyperparameters).toMatchObject({ strategy: 'random', samples: 12, seed: 42, passAs: 'env' });
    expect(random.spec.hyperparameters.parameters.rank).toEqual({ distribution: 'int_uniform', min: 4, max: 64 });
    expect(random.spec.metrics.earlyStopping).toEqual({ rule: 'median', minTrials: 4, startStep: 200 });
    const list = byName.get('nightly-eval')!;
    expect(list.spec.hyperparameters.trials).toHaveLength(3);
    expect(list.spec.schedule).toEqual({ cron: '30 1 * * MON-FRI', timezone: 'Europe/Berlin', concurrencyPolicy: 'Replace', startingDeadline: '45m' });
    const ddp = byName.get('resnet-sweep')!;
    expect(ddp.spec.distributed).toEqual({ strategy: 'ddp', nodes: 2, nprocPerNode: 4, backend: 'nccl', masterPort: 29500 });
    expect(ddp.description).toBe('ResNet-50 on imagenet-mini, lr × batch size');
  });
});

describe('hostile text', () => {
  const load = (text: string) => loadText(text, 'x.yaml', { cwd: root, dir: root, defaultOutputUri: DEFAULT_OUTPUT });

  it('survives nesting deep enough to exhaust the YAML parser\'s stack', () => {
    const block = `a:\n${Array.from({ length: 1500 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n')} 1\n`;
    const { jobs, diagnostics } = load(block);
    expect(jobs).toEqual([]);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]!.message).toMatch(/call stack|cannot parse YAML/);
    expect(diagnostics[0]!.hint).toBe('a TrainJob nests only a few levels deep');
  });

  it('stops at nesting deeper than a TrainJob needs, before anything recurses over it', () => {
    const { diagnostics } = load(`${spec('j')}  metrics: { patterns: { loss: ${'['.repeat(200)}${']'.repeat(200)} } }\n`);
    expect(shown(diagnostics)).toEqual(['x.yaml:6:92: error: nesting is too deep (more than 64 levels) — a TrainJob nests only a few levels deep']);
  });

  it('rejects keys that are collections and __proto__ keys, which plain objects cannot hold faithfully', () => {
    const { jobs, diagnostics } = load(`${spec('j')}  code: { env: { [A]: x, __proto__: y } }\n`.replace('  code: { path: ., command: python3 train.py }\n', ''));
    expect(shown(diagnostics)).toEqual([
      'x.yaml:5:18: error: a key must be a plain value, not a list — write the key as a string',
      'x.yaml:5:26: error: the key "__proto__" is not allowed — rename it',
    ]);
    expect(jobs).toEqual([]);
  });

  it('limits a cascade of YAML errors to one per line and five per document', () => {
    const { diagnostics } = load(`a: [${'\n]'.repeat(50)}\n`);
    expect(diagnostics.length).toBeLessThanOrEqual(5);
    expect(new Set(diagnostics.map((d) => d.line)).size).toBe(diagnostics.length);
  });

  it('quotes a huge value only in part', () => {
    const { diagnostics } = load(`${spec('j')}  schedule: { cron: "0 2 * * *", timezone: ${'Z'.repeat(50_000)} }\n`);
    expect(shown(diagnostics)).toEqual([
      `x.yaml:6:44: error: unknown time zone "${'Z'.repeat(60)}…" (50000 characters) — use an IANA name such as UTC or Europe/Berlin`,
    ]);
  });

  it('reads CRLF files with the same positions as LF files', () => {
    const lf = `${spec('j')}  retry: { onFailure: -1 }\n`;
    const a = load(lf).diagnostics;
    const b = load(lf.replace(/\n/g, '\r\n')).diagnostics;
    expect(b).toEqual(a);
    expect(a).toHaveLength(1);
  });
});

// `trainctl validate` and `trainctl init` end to end.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir, writeFiles } from '../helpers.js';

describe('trainctl validate', () => {
  it('accepts the quickstart and says what it found', async () => {
    const r = await runCli(['validate', '-f', 'jobs.example/quickstart.yaml']);
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: 'jobs.example/quickstart.yaml: job demo/quickstart is valid (4 trials)\n' });
  });

  it('reports every problem of a file at once, each on its node, exit 1', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'bad.yaml': [
        'apiVersion: trainctl.dev/v1',
        'kind: TrainJob',
        'metadata: { name: bad }',
        'spec:',
        '  code: { path: ., command: "python train.py --lr {lr} --wd {wd}" }',
        '  checkpoint:',
        '    keepLast: 3',
        '  hyperparameters:',
        '    parameters: { lr: [0.1] }',
        '    maxParallel: four',
        '',
      ].join('\n'),
    });
    const r = await runCli(['validate', '-f', 'bad.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      'bad.yaml:7:5: error: unknown key "keepLast" in spec.checkpoint — did you mean "keepLastN"?',
      'bad.yaml:10:18: error: spec.hyperparameters.maxParallel must be an integer, got the string "four"',
      '1 error'.replace('1 error', '2 errors'),
      '',
    ]);
  });

  it('gives diagnostics as JSON with --output json', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'a.yaml': 'apiVersion: trainctl.dev/v1\nkind: TrainJob\nmetadata: { name: a }\nspec: { code: { command: "x {y}" } }\n' });
    const r = await runCli(['validate', '-f', 'a.yaml', '-o', 'json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { formatVersion: number; valid: boolean; diagnostics: { line: number; col: number; message: string }[] };
    expect(out.formatVersion).toBe(1);
    expect(out.valid).toBe(false);
    expect(out.diagnostics).toEqual([expect.objectContaining({ severity: 'error', file: 'a.yaml', line: 4, col: 29, message: 'placeholder {y} in code.command names no hyperparameter' })]);
  });

  it('reports a missing file as a one-line error', async () => {
    const r = await runCli(['validate', '-f', 'nope.yaml']);
    expect(r).toMatchObject({ code: 1, stderr: 'nope.yaml: error: no such file or directory — check the path given to -f\n1 error\n' });
  });
});

describe('trainctl init', () => {
  it('writes a starter spec that validates and plans, with the schema beside it', async () => {
    const dir = tempDir();
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'trainjob.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./trainjob.schema.json');
    expect(existsSync(join(dir, 'trainjob.schema.json'))).toBe(true);
    const v = await runCli(['validate'], { cwd: dir });
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^trainjob\.yaml: job default\/[a-z][-a-z0-9]* is valid \(4 trials\)\n$/);
    const p = await runCli(['plan'], { cwd: dir, env: { TRAINCTL_HOME: join(dir, 'home') } });
    expect(p.code).toBe(0);
    expect(p.stdout).toContain('Plan: 2 to create, 0 to resume, 0 to stop. 2 waiting.');
  });

  it('never overwrites without --force', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'trainjob.yaml': 'mine\n' });
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*trainjob\.yaml already exists — pass --force to overwrite it\n$/);
    expect(readFileSync(join(dir, 'trainjob.yaml'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(dir, 'trainjob.schema.json'))).toBe(false);
    expect((await runCli(['init', '--force'], { cwd: dir })).code).toBe(0);
    expect(readFileSync(join(dir, 'trainjob.yaml'), 'utf8')).toContain('kind: TrainJob');
  });
});

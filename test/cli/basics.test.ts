// The CLI as a user meets it: help, version, unknown commands and flags, exit codes, colours.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../helpers.js';

describe('trainctl basics', () => {
  it('prints its version from package.json', async () => {
    const r = await runCli(['--version']);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(r).toMatchObject({ code: 0, stdout: `trainctl ${pkg.version}\n`, stderr: '' });
  });

  it('lists the commands in --help, and each command has its own help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['validate', 'plan', 'schema', 'init']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd} +\\S`, 'm'));
      const h = await runCli([cmd, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^Usage: trainctl ${cmd}`));
    }
  });

  it('with no arguments prints help and exits 1', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Usage: trainctl <command>');
  });

  it('rejects an unknown command with a did-you-mean, on stderr, exit 1', async () => {
    const r = await runCli(['paln']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('error: unknown command "paln" — did you mean `trainctl plan`?\n');
  });

  it('rejects an unknown flag with one line and a hint', async () => {
    const r = await runCli(['plan', '--prun']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: Unknown option '--prun' — see `trainctl plan --help`\n$/);
  });

  it('rejects an unknown output format', async () => {
    const r = await runCli(['validate', '-f', 'jobs.example/quickstart.yaml', '--output', 'yaml']);
    expect(r).toMatchObject({ code: 1, stderr: 'error: unknown output format "yaml" — use one of: text, json\n' });
  });

  it('says what to do when no spec is given', async () => {
    const r = await runCli(['plan'], { cwd: join(repoRoot, 'test') });
    expect(r).toMatchObject({ code: 1, stderr: 'error: no spec given and no trainjob.yaml here — pass -f <file or directory>, or run `trainctl init`\n' });
  });

  it('prints the schema file as it is', async () => {
    const r = await runCli(['schema']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(join(repoRoot, 'schema/trainjob.schema.json'), 'utf8')));
  });

  it('colours only when asked, never with NO_COLOR, never into a pipe', async () => {
    const args = ['plan', '-f', 'jobs.example/quickstart.yaml'];
    const env = { TRAINCTL_HOME: join(repoRoot, 'test', 'nonexistent-home') };
    const piped = await runCli(args, { env });
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain('\x1b[');
    const forced = await runCli(args, { env: { ...env, FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain('\x1b[32m');
    const noColor = await runCli(args, { env: { ...env, FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(noColor.stdout).not.toContain('\x1b[');
    const flag = await runCli([...args, '--no-color'], { env: { ...env, FORCE_COLOR: '1' } });
    expect(flag.stdout).not.toContain('\x1b[');
    expect(noColor.stdout).toBe(piped.stdout);
  });
});

// `trainctl s3 upload|download|sync` through the built CLI against the real radosgw: round trips,
// include/exclude, and sync --delete deleting exactly what its preview listed.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../src/transfer/index.js';
import { binPath, runCli, tempDir, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const client = testClient();
let bucket: string;
beforeAll(async () => { bucket = await makeBucket(client, 'cli-transfer'); });

const env = () => s3Env();
async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listObjects(client, { bucket, key: prefix })) out.push(o.key.slice(prefix.length));
  return out.sort();
}
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else out[relative(dir, p).split(sep).join('/')] = readFileSync(p, 'utf8');
    }
  };
  visit(dir);
  return out;
}

describe('trainctl s3 upload / download', () => {
  it('round-trips one file and a tree (with include/exclude), printing one summary line off a terminal', async () => {
    const dir = tempDir();
    const files = { 'a.txt': 'alpha', 'empty.bin': '', 'sub/b c/ünï.pt': 'unicode and spaces', 'logs/run.log': 'noise' };
    writeFiles(join(dir, 'src'), files);

    const one = await runCli(['s3', 'upload', join(dir, 'src/a.txt'), `s3://${bucket}/one/`], { env: env() });
    expect(one.stderr).toBe('');
    expect(one).toMatchObject({ code: 0 });
    expect(one.stdout).toMatch(/^Uploaded 1 file \(5 B\) in \d+\.\ds, .+\/s\n$/);
    expect(await keys('one/')).toEqual(['a.txt']);

    const up = await runCli(['s3', 'upload', join(dir, 'src'), `s3://${bucket}/tree`, '--recursive', '--exclude', 'logs/**'], { env: env() });
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^Uploaded 3 files \(23 B\) in .*; 1 skipped\n$/);
    expect(await keys('tree/')).toEqual(['a.txt', 'empty.bin', 'sub/b c/ünï.pt']);

    const down = await runCli(['s3', 'download', `s3://${bucket}/tree/`, join(dir, 'back'), '--recursive', '--include', '**/*.pt', '--include', '*.txt'], { env: env() });
    expect(down.code).toBe(0);
    expect(tree(join(dir, 'back'))).toEqual({ 'a.txt': 'alpha', 'sub/b c/ünï.pt': 'unicode and spaces' });

    const single = await runCli(['s3', 'download', `s3://${bucket}/tree/sub/b c/ünï.pt`, `${join(dir, 'single')}/`], { env: env() });
    expect(single.code).toBe(0);
    expect(readFileSync(join(dir, 'single/ünï.pt'), 'utf8')).toBe('unicode and spaces');

    const json = await runCli(['s3', 'upload', join(dir, 'src/a.txt'), `s3://${bucket}/json/a.txt`, '--output', 'json'], { env: env() });
    expect(JSON.parse(json.stdout)).toMatchObject({ formatVersion: 1, destination: `s3://${bucket}/json/a.txt`, report: { files: 1, bytes: 5, failed: [] } });
  });

  it.runIf(existsSync('/usr/bin/script'))('shows bytes, rate and ETA on a terminal, rewritten in place', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(48 * 1024 * 1024, 7));
    const env = Object.entries(s3Env()).map(([k, v]) => `${k}=${v}`).join(' ');
    // script(1) gives the CLI a pseudo-terminal, as a user's shell would
    const r = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/script', ['-qec', `env ${env} ${process.execPath} ${binPath} s3 upload ${join(dir, 'big.bin')} s3://${bucket}/tty/big.bin`, '/dev/null'], { timeout: 60_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const frames = r.split('\r');
    expect(frames.some((f) => /\x1b\[K +\d+%  [\d.]+ \S+ \/ 48 MiB  [\d.]+ \S+\/s  ETA \S+/.test(f))).toBe(true);
    expect(r).toMatch(/\x1b\[KUploaded 1 file \(48 MiB\) in [\d.]+s, .+\/s/);
  });

  it('never follows a symlink out of the source tree, and says so', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'secret.txt': 'private', 'src/in.txt': 'in', 'src/inner/target.txt': 't' });
    symlinkSync(join(dir, 'secret.txt'), join(dir, 'src/leak.txt'));
    symlinkSync(join(dir, 'src/inner/target.txt'), join(dir, 'src/alias.txt'));
    const r = await runCli(['s3', 'upload', join(dir, 'src'), `s3://${bucket}/links/`, '--recursive'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`warning: skipped leak.txt: symlink to ${join(dir, 'secret.txt')}, outside the source tree\n`);
    expect(await keys('links/')).toEqual(['alias.txt', 'in.txt', 'inner/target.txt']);
  });

  it('refuses a directory without --recursive, and a prefix download without it, with a hint', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'x/a.txt': 'a' });
    const r1 = await runCli(['s3', 'upload', join(dir, 'x'), `s3://${bucket}/x/`], { env: env() });
    expect(r1).toMatchObject({ code: 1, stdout: '', stderr: `error: ${join(dir, 'x')} is a directory — pass --recursive to upload everything under it\n` });
    const r2 = await runCli(['s3', 'download', `s3://${bucket}/tree/`, join(dir, 'y')], { env: env() });
    expect(r2).toMatchObject({ code: 1, stderr: `error: s3://${bucket}/tree/ is a prefix, not an object — download a prefix with --recursive\n` });
    const r3 = await runCli(['s3', 'download', `s3://${bucket}/no/such/key`, join(dir, 'y')], { env: env() });
    expect(r3).toMatchObject({ code: 1, stderr: `error: s3://${bucket}/no/such/key does not exist — to download everything under a prefix, pass --recursive\n` });
    expect(existsSync(join(dir, 'y'))).toBe(false);
  });

  it('refuses a whole download when one key would land outside the target, writing nothing', async () => {
    const dir = tempDir();
    for (const [key, body] of [['evil/ok.txt', 'fine'], ['evil/../escaped.txt', 'gotcha'], ['evil/zz.txt', 'fine too']] as const) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    }
    const r = await runCli(['s3', 'download', `s3://${bucket}/evil/`, join(dir, 'target'), '--recursive'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*1 key would land outside .*nothing downloaded.*"\.\." segment in key/);
    expect(existsSync(join(dir, 'target'))).toBe(false);
    expect(existsSync(join(dir, 'escaped.txt'))).toBe(false);
    const synced = await runCli(['s3', 'sync', `s3://${bucket}/evil/`, join(dir, 'target2')], { env: env() });
    expect(synced.code).toBe(1);
    expect(existsSync(join(dir, 'target2'))).toBe(false);
  });
});

describe('trainctl s3 sync', () => {
  it('uploads what changed; --delete shows its list, refuses without --yes off a terminal, then deletes exactly that list', async () => {
    const dir = tempDir();
    const src = join(dir, 'src');
    writeFiles(src, { 'keep.txt': 'k', 'gone.txt': 'g', 'old/one.pt': '1', 'skip/x.log': 'log' });
    const first = await runCli(['s3', 'sync', src, `s3://${bucket}/sync/`], { env: env() });
    expect(first.code).toBe(0);
    expect(await keys('sync/')).toEqual(['gone.txt', 'keep.txt', 'old/one.pt', 'skip/x.log']);

    rmSync(join(src, 'gone.txt'));
    rmSync(join(src, 'old'), { recursive: true });
    writeFiles(src, { 'new.txt': 'n' });
    const dry = await runCli(['s3', 'sync', '.', `s3://${bucket}/sync/`, '--delete', '--dry-run'], { cwd: src, env: env() });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`upload    new.txt → s3://${bucket}/sync/new.txt`);
    expect(dry.stdout).toContain(`delete    s3://${bucket}/sync/gone.txt`);
    expect(dry.stdout).toContain(`delete    s3://${bucket}/sync/old/one.pt`);
    expect(dry.stdout).toContain('Sync: 1 to upload (1 B), 2 to delete (2 B), 2 unchanged. (dry run: nothing changed)');
    expect(await keys('sync/')).toEqual(['gone.txt', 'keep.txt', 'old/one.pt', 'skip/x.log']);

    const refused = await runCli(['s3', 'sync', src, `s3://${bucket}/sync/`, '--delete'], { env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: refusing to delete without confirmation: stdin is not a terminal — pass --yes to delete non-interactively (CI)\n');
    expect(await keys('sync/')).toEqual(['gone.txt', 'keep.txt', 'old/one.pt', 'skip/x.log']);

    const json = await runCli(['s3', 'sync', src, `s3://${bucket}/sync/`, '--delete', '--yes', '--exclude', 'skip/**', '--output', 'json'], { env: env() });
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { deleted: string[]; actions: { kind: string; key: string }[] };
    expect(out.deleted.sort()).toEqual(['sync/gone.txt', 'sync/old/one.pt']);
    expect(out.actions.map((a) => `${a.kind} ${a.key}`)).toEqual(['upload sync/new.txt']);
    // excluded on both sides: the local lack of skip/ deletes nothing there
    expect(await keys('sync/')).toEqual(['keep.txt', 'new.txt', 'skip/x.log']);
  });

  it('downloads by argument order, and with --direction as the original CLI wrote it', async () => {
    const dir = tempDir();
    const byOrder = await runCli(['s3', 'sync', `s3://${bucket}/sync/`, join(dir, 'a')], { env: env() });
    expect(byOrder.code).toBe(0);
    expect(tree(join(dir, 'a'))).toEqual({ 'keep.txt': 'k', 'new.txt': 'n', 'skip/x.log': 'log' });
    const seedStyle = await runCli(['s3', 'sync', join(dir, 'b'), `s3://${bucket}/sync/`, '--direction', 'down', '--exclude', 'skip/**'], { env: env() });
    expect(seedStyle.code).toBe(0);
    expect(tree(join(dir, 'b'))).toEqual({ 'keep.txt': 'k', 'new.txt': 'n' });

    writeFiles(dir, { 'b/stray.txt': 's' });
    const del = await runCli(['s3', 'sync', `s3://${bucket}/sync/`, join(dir, 'b'), '--delete', '--yes', '--exclude', 'skip/**'], { env: env() });
    expect(del.code).toBe(0);
    expect(del.stdout).toContain('delete    ');
    expect(del.stdout).toContain('Deleted 1 file that');
    expect(tree(join(dir, 'b'))).toEqual({ 'keep.txt': 'k', 'new.txt': 'n' });
  });

  it('says what is wrong with its arguments in one line', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'd'));
    writeFileSync(join(dir, 'f'), 'x');
    const cases: [string[], string][] = [
      [['s3', 'sync', join(dir, 'd'), join(dir, 'e')], 'error: sync needs an s3:// URI on one side — e.g. trainctl s3 sync ./data s3://bucket/data/ (upload) or the reverse (download)\n'],
      [['s3', 'sync', join(dir, 'missing'), `s3://${bucket}/x/`], `error: ${join(dir, 'missing')}: no such file or directory — check the path (relative paths are from the current directory)\n`],
      [['s3', 'sync', join(dir, 'f'), `s3://${bucket}/x/`], `error: ${join(dir, 'f')} is not a directory — sync works on directories; for one file use \`trainctl s3 upload\`\n`],
      [['s3', 'sync', join(dir, 'd'), `s3://${bucket}/x/`, '--direction', 'sideways'], 'error: --direction "sideways" is not up or down — the argument order gives the direction; --direction is only needed with the original CLI\'s order\n'],
      [['s3', 'sync', join(dir, 'd')], 'error: missing <dst> — usage: trainctl s3 sync <src> <dst> [--delete] [--dry-run]\n'],
    ];
    for (const [args, stderr] of cases) expect(await runCli(args, { env: env() })).toMatchObject({ code: 1, stdout: '', stderr });
  });
});

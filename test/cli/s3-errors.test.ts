// Every bad input to `trainctl s3 …` is one line on stderr with a hint and exit 1, with nothing
// created: malformed URIs and endpoints, missing credentials, an unreachable endpoint, missing
// local paths, unknown verbs and flags. Credentials never appear in what is printed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeFiles } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

let bucket: string;
beforeAll(async () => { bucket = await makeBucket(testClient(), 'cli-errors'); });

const oneLine = (r: { code: number | null; stdout: string; stderr: string }) => {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  expect(r.stderr).toMatch(/^error: .+ — .+\n$/);
  return r.stderr;
};

describe('trainctl s3: bad input', () => {
  it('names a malformed URI and shows the form', async () => {
    expect(oneLine(await runCli(['s3', 'list', 'bucket/prefix'], { env: s3Env() }))).toBe('error: "bucket/prefix" is not an s3:// URI — write it like s3://bucket/prefix/\n');
    expect(oneLine(await runCli(['s3', 'list', 's3://Bad_Bucket/x'], { env: s3Env() }))).toBe('error: invalid S3 bucket name "Bad_Bucket" — bucket names have 3–63 lowercase letters, digits, dots and dashes\n');
    expect(oneLine(await runCli(['s3', 'list', 'S3://bucket/x'], { env: s3Env() }))).toBe('error: "S3://bucket/x" is not an s3:// URI — the scheme is lowercase: s3://bucket/prefix/\n');
    const dir = tempDir();
    writeFiles(dir, { 'a.txt': 'a' });
    expect(oneLine(await runCli(['s3', 'upload', join(dir, 'a.txt'), 's3://'], { env: s3Env() }))).toMatch(/^error: invalid S3 bucket name ""/);
    expect(oneLine(await runCli(['s3', 'upload', `s3://${bucket}/a.txt`, join(dir, 'b.txt')], { env: s3Env() }))).toBe(`error: upload goes from a local path to an s3:// URI — did you mean \`trainctl s3 download s3://${bucket}/a.txt ${join(dir, 'b.txt')}\`?\n`);
  });

  it('says when there are no credentials, without waiting on instance metadata', async () => {
    const home = tempDir();
    const env = { ...s3Env(), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_PROFILE: undefined, AWS_SESSION_TOKEN: undefined, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none') };
    expect(oneLine(await runCli(['s3', 'list', `s3://${bucket}/`], { env }))).toBe("error: no AWS credentials found — set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (credentials are read by the AWS SDK's default chain)\n");
  });

  it('says when the keys are wrong, and never prints them', async () => {
    const secret = 'not-the-secret-0123456789abcdef';
    const r = await runCli(['s3', 'list', `s3://${bucket}/`], { env: { ...s3Env(), AWS_SECRET_ACCESS_KEY: secret } });
    expect(oneLine(r)).toMatch(/^error: .*access denied to s3:\/\/cli-errors-[0-9a-f]+\/ \(SignatureDoesNotMatch\) — check the credentials/);
    expect(r.stderr).not.toContain(secret);
    expect(r.stderr).not.toContain(s3Env().AWS_SECRET_ACCESS_KEY);
  });

  it('says when the endpoint cannot be reached or is malformed', async () => {
    const dir = tempDir();
    const unreachable = oneLine(await runCli(['s3', 'download', `s3://${bucket}/x/`, join(dir, 'out'), '--recursive', '--endpoint-url', 'http://127.0.0.1:9'], { env: s3Env() }));
    expect(unreachable).toBe('error: list: cannot reach the S3 endpoint http://127.0.0.1:9 (ECONNREFUSED) — check --endpoint-url / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and that the server is running\n');
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(oneLine(await runCli(['s3', 'list', `s3://${bucket}/`, '--endpoint-url', 'localhost:9000'], { env: s3Env() }))).toBe('error: malformed S3 endpoint "localhost:9000" — write it like https://s3.example.com or http://127.0.0.1:9000\n');
    expect(oneLine(await runCli(['s3', 'list', `s3://${bucket}/`], { env: { ...s3Env(), AWS_ENDPOINT_URL: 'not a url' } }))).toBe('error: malformed S3 endpoint "not a url" (from AWS_ENDPOINT_URL) — write it like https://s3.example.com or http://127.0.0.1:9000\n');
  });

  it('says when a local path does not exist', async () => {
    const dir = tempDir();
    expect(oneLine(await runCli(['s3', 'upload', join(dir, 'nope.pt'), `s3://${bucket}/x/`], { env: s3Env() }))).toBe(`error: ${join(dir, 'nope.pt')}: no such file or directory — check the path (relative paths are from the current directory)\n`);
    expect(oneLine(await runCli(['checkpoint', 'list', join(dir, 'nope')], { env: s3Env() }))).toBe(`error: ${join(dir, 'nope')}: no such file or directory — check the path (relative paths are from the current directory)\n`);
  });

  it('rejects unknown verbs and flags, and missing arguments, with the command to read', async () => {
    expect(oneLine(await runCli(['s3', 'uplaod', 'a', 'b']))).toBe('error: unknown command "s3 uplaod" — did you mean `trainctl s3 upload`?\n');
    expect(oneLine(await runCli(['checkpoint', 'frobnicate']))).toBe('error: unknown command "checkpoint frobnicate" — run `trainctl checkpoint --help` for the list\n');
    expect(oneLine(await runCli(['s3', 'list', 's3://b/', '--recursve']))).toBe("error: Unknown option '--recursve' — see `trainctl s3 list --help`\n");
    expect(oneLine(await runCli(['checkpoint', 'cleanup', '.', '--keep-last', '2']))).toBe("error: Unknown option '--keep-last' — see `trainctl checkpoint cleanup --help`\n");
    expect(oneLine(await runCli(['s3', 'upload', 'only-one']))).toBe('error: missing <s3uri> — usage: trainctl s3 upload <local> <s3uri> [--recursive]\n');
    expect(oneLine(await runCli(['s3', 'list', 's3://b/', 'extra']))).toBe('error: unexpected argument "extra" — usage: trainctl s3 list <s3uri> [--recursive] [--human-readable]\n');
    expect(oneLine(await runCli(['s3', 'list', 's3://b/', '-o', 'yaml']))).toBe('error: unknown output format "yaml" — use one of: text, json\n');
  });
});

describe('trainctl s3 / checkpoint help', () => {
  it('lists the verbs, and each verb has its own help', async () => {
    for (const [group, verbs] of [['s3', ['upload', 'download', 'sync', 'list', 'watch', 'review', 'cleanup']], ['checkpoint', ['list', 'info', 'cleanup', 'resume']]] as const) {
      const top = await runCli([group, '--help']);
      expect(top.code).toBe(0);
      for (const v of verbs) {
        expect(top.stdout).toMatch(new RegExp(`^  ${v} +\\S`, 'm'));
        const h = await runCli([group, v, '--help']);
        expect(h).toMatchObject({ code: 0, stderr: '' });
        expect(h.stdout).toMatch(new RegExp(`^Usage: trainctl ${group} ${v}`));
      }
    }
    const bare = await runCli(['s3']);
    expect(bare.code).toBe(1);
    expect(bare.stdout).toMatch(/^Usage: trainctl s3 <upload\|download/);
    const global = await runCli(['--help']);
    expect(global.stdout).toMatch(/^ {2}s3 +Move, list, watch, review and clean up S3 data$/m);
    expect(global.stdout).toMatch(/^ {2}checkpoint +List, inspect, clean up and resume from checkpoints$/m);
  });
});

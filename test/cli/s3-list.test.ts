// `trainctl s3 list|review|watch` through the built CLI against the real radosgw.
import { spawn } from 'node:child_process';
import { CreateMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { binPath, runCli } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const client = testClient();
let bucket: string;
const put = (key: string, body: string | Buffer) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

beforeAll(async () => {
  bucket = await makeBucket(client, 'cli-list');
  await put('ckpt/step-000010.pt', Buffer.alloc(2048, 1));
  await put('ckpt/step-000020.pt', Buffer.alloc(3 * 1024 * 1024, 2));
  await put('ckpt/logs/train.log', 'loss=1\n');
  await put('data/x.bin', 'x');
  await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'ckpt/half-uploaded.pt' }));
});

describe('trainctl s3 list', () => {
  it('lists one level with sub-prefixes, or everything with --recursive, with a total', async () => {
    const level = await runCli(['s3', 'list', `s3://${bucket}/ckpt/`], { env: s3Env() });
    expect(level.code).toBe(0);
    const lines = level.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^MODIFIED +SIZE +KEY$/);
    expect(lines[1]).toMatch(/^ +PRE  ckpt\/logs\/$/);
    expect(lines[2]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +2048  ckpt\/step-000010\.pt$/);
    expect(lines[3]).toMatch(/ 3145728  ckpt\/step-000020\.pt$/);
    expect(lines.at(-1)).toBe('2 objects, 3147776 bytes, 1 prefix');

    const all = await runCli(['s3', 'list', `s3://${bucket}/`, '--recursive', '--human-readable'], { env: s3Env() });
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/ 3\.0 MiB  ckpt\/step-000020\.pt\n/);
    expect(all.stdout).toMatch(/ 7 B  ckpt\/logs\/train\.log\n/);
    expect(all.stdout.trimEnd().split('\n').at(-1)).toBe('4 objects, 3.0 MiB');
  });

  it('gives the documented JSON form', async () => {
    const r = await runCli(['s3', 'list', `s3://${bucket}/ckpt/`, '--recursive', '-o', 'json'], { env: s3Env() });
    const out = JSON.parse(r.stdout) as { formatVersion: number; count: number; totalBytes: number; objects: { key: string; size: number; etag: string; lastModified: string }[] };
    expect(out).toMatchObject({ formatVersion: 1, uri: `s3://${bucket}/ckpt/`, recursive: true, count: 3, totalBytes: 2048 + 3 * 1024 * 1024 + 7, prefixes: [] });
    expect(out.objects.map((o) => o.key)).toEqual(['ckpt/logs/train.log', 'ckpt/step-000010.pt', 'ckpt/step-000020.pt']);
    expect(out.objects[0]!.etag).toMatch(/^[0-9a-f]{32}$/);
    expect(Number.isNaN(Date.parse(out.objects[0]!.lastModified))).toBe(false);
  });

  it('says when a prefix is empty, and when the bucket does not exist', async () => {
    expect(await runCli(['s3', 'list', `s3://${bucket}/nothing-here/`], { env: s3Env() })).toMatchObject({ code: 0, stdout: `No objects under s3://${bucket}/nothing-here/.\n` });
    expect(await runCli(['s3', 'list', 's3://no-such-bucket-cli/'], { env: s3Env() })).toMatchObject({ code: 1, stdout: '', stderr: 'error: bucket no-such-bucket-cli does not exist — check the bucket name and the endpoint/region\n' });
  });
});

describe('trainctl s3 review', () => {
  it('reports count, size by prefix, largest, newest/oldest, incomplete uploads and the monthly cost with its rate', async () => {
    const r = await runCli(['s3', 'review', `s3://${bucket}/ckpt`], { env: s3Env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Storage under s3://${bucket}/ckpt/`);
    expect(r.stdout).toMatch(/Objects: +3\n/);
    expect(r.stdout).toMatch(/Total size: +3\.0 MiB \(3147783 bytes\)/);
    expect(r.stdout).toMatch(/Est\. cost: +\$0\.0001\/month at \$0\.023 per GB-month \(S3 Standard/);
    expect(r.stdout).toContain('1 multipart upload (their parts are billed but not listed)');
    expect(r.stdout).toMatch(/\(top level\) +2 +3\.0 MiB +100\.0%/);
    expect(r.stdout).toMatch(/logs\/ +1 +7 B +0\.0%/);
    expect(r.stdout).toMatch(/Largest\n +SIZE +MODIFIED +KEY\n3\.0 MiB .* ckpt\/step-000020\.pt\n/);
    expect(r.stdout).toMatch(/Incomplete multipart uploads\n.*\n.* ckpt\/half-uploaded\.pt /);
    expect(r.stdout).not.toContain('\nObjects\n');
    const detailed = await runCli(['s3', 'review', `s3://${bucket}/ckpt/`, '--detailed'], { env: s3Env() });
    expect(detailed.stdout).toMatch(/\nObjects\n.*\n.* ckpt\/logs\/train\.log\n/);
  });

  it('gives the same facts as JSON', async () => {
    const r = await runCli(['s3', 'review', `s3://${bucket}/ckpt/`, '--output', 'json', '--detailed'], { env: s3Env() });
    const out = JSON.parse(r.stdout) as Record<string, unknown> & { cost: { monthlyUSD: number }; largest: { key: string }[]; incompleteUploads: { key: string }[]; objects: unknown[] };
    expect(out).toMatchObject({
      formatVersion: 1, count: 3, totalBytes: 3147783,
      byPrefix: [{ prefix: '', count: 2, bytes: 3147776 }, { prefix: 'logs/', count: 1, bytes: 7 }],
      newest: expect.objectContaining({ key: expect.stringMatching(/^ckpt\//) }),
      cost: { usdPerGBMonth: 0.023, storageClass: 'STANDARD' },
    });
    expect(out.cost.monthlyUSD).toBeCloseTo((3147783 / 2 ** 30) * 0.023, 6);
    expect(out.largest.map((o) => o.key)).toEqual(['ckpt/step-000020.pt', 'ckpt/step-000010.pt', 'ckpt/logs/train.log']);
    expect(out.incompleteUploads.map((u) => u.key)).toEqual(['ckpt/half-uploaded.pt']);
    expect(out.objects).toHaveLength(3);
  });
});

describe('trainctl s3 watch', () => {
  it('prints an object added while watching, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [binPath, 's3', 'watch', `s3://${bucket}/ckpt/`, '--interval', '1s'], { env: { ...process.env, ...s3Env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (what: string, cond: () => boolean) => {
      const end = Date.now() + 15_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stdout: ${stdout}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until('the watch to start', () => stderr.includes('Watching'));
      expect(stderr).toBe(`Watching s3://${bucket}/ckpt/ every 1s (3 objects now); Ctrl-C to stop.\n`);
      await put('ckpt/step-000030.pt', 'new checkpoint');
      await until('the new object', () => stdout.includes('step-000030.pt'));
      expect(stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ  \\+ s3://${bucket}/ckpt/step-000030\\.pt  14 B\\n$`));
      await put('ckpt/step-000030.pt', 'rewritten, longer');
      await until('the change', () => stdout.split('\n').length > 2);
      expect(stdout.split('\n')[1]).toMatch(/  ~ s3:\/\/.*\/ckpt\/step-000030\.pt  17 B$/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('refuses a bad interval and a missing bucket in one line', async () => {
    expect(await runCli(['s3', 'watch', `s3://${bucket}/`, '--interval', 'often'], { env: s3Env() })).toMatchObject({ code: 1, stderr: 'error: --interval "often" is not a duration — write it like 30s, 10m, 12h, 30d or 1h30m\n' });
    expect(await runCli(['s3', 'watch', 's3://no-such-bucket-cli/', '--interval', '1s'], { env: s3Env() })).toMatchObject({ code: 1, stderr: 'error: bucket no-such-bucket-cli does not exist — check the bucket name and the endpoint/region\n' });
  });
});

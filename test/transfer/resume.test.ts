// A multipart upload killed half-way resumes: the second run finds the UploadId in its state file,
// asks the server which parts it has (ListParts), sends only the missing ones, and the object is
// byte-identical to the file. The uploader is a real child process, killed with SIGKILL.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { downloadObject, headObject, uploadFile, type TransferReport } from '../../src/transfer/index.js';
import { tempDir } from '../helpers.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { freshBucket, MiB, randomFile, sha256File, testClient } from './harness.js';

const client = testClient();
let bucket: string;
let childJs: string;
let proxy: FaultProxy;
beforeAll(async () => {
  bucket = await freshBucket(client, 'resume');
  childJs = join(tempDir(), 'upload-child.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'upload-child.ts')],
    outfile: childJs,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  // slow parts down so the kill lands in the middle
  proxy = await startFaultProxy({ target: inject('s3').endpoint, delayMs: { UploadPart: 150 } });
});
afterAll(() => proxy.close());

interface ChildRun {
  killedAt?: number;
  report?: TransferReport;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the uploader; with killAfter, SIGKILLs it once that many bytes are reported done. */
function runChild(args: string[], killAfter?: number): Promise<ChildRun> {
  const s3 = inject('s3');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childJs, ...args], { env: { ...process.env, TEST_S3_KEY: s3.accessKeyId, TEST_S3_SECRET: s3.secretAccessKey }, stdio: ['ignore', 'pipe', 'inherit'] });
    const run: Partial<ChildRun> = {};
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('done ')) run.report = JSON.parse(line.slice(5)) as TransferReport;
        const done = line.startsWith('progress ') ? Number(line.slice(9)) : 0;
        if (killAfter !== undefined && run.killedAt === undefined && done >= killAfter) {
          run.killedAt = done;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ ...run, code, signal }));
  });
}

describe('resumable multipart upload', () => {
  it('killed mid-upload, a second run sends only the missing parts and the object is identical', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const src = join(dir, 'model.bin');
    const size = 64 * MiB + 12345;
    const partSize = 5 * MiB;
    const parts = Math.ceil(size / partSize); // 13
    randomFile(src, size);
    const resumeDir = join(dir, 'state');
    const args = [proxy.endpoint, src, bucket, 'ckpt/model.bin', resumeDir, String(partSize), '2'];

    const first = await runChild(args, 20 * MiB);
    expect(first.signal).toBe('SIGKILL');
    expect(first.report).toBeUndefined();
    expect(readdirSync(resumeDir)).toHaveLength(1);
    // let radosgw finish (or drop) the parts that were in flight when the process died
    await new Promise((r) => setTimeout(r, 1000));
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(uploads.Uploads).toHaveLength(1);
    const uploadId = uploads.Uploads![0]!.UploadId!;
    const listed = (await client.send(new ListPartsCommand({ Bucket: bucket, Key: 'ckpt/model.bin', UploadId: uploadId }))).Parts ?? [];
    const complete = listed.filter((p) => p.Size === partSize || (p.PartNumber === parts && p.Size === size - (parts - 1) * partSize));
    expect(complete.length).toBeGreaterThanOrEqual(4);
    expect(complete.length).toBeLessThan(parts);

    proxy.reset();
    const second = await runChild(args);
    expect(second.code).toBe(0);
    // only the missing parts went over the wire, into the same upload
    expect(proxy.counts.UploadPart).toBe(parts - complete.length);
    expect(proxy.counts.CreateMultipartUpload).toBeUndefined();
    expect(proxy.counts.ListParts).toBe(1);
    expect(second.report!.resumedBytes).toBe(complete.reduce((n, p) => n + (p.Size ?? 0), 0));
    expect(second.report!.bytes + second.report!.resumedBytes).toBe(size);
    expect(readdirSync(resumeDir)).toEqual([]);
    expect((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);

    const head = (await headObject(client, { bucket, key: 'ckpt/model.bin' }))!;
    expect(head.size).toBe(size);
    expect(head.etag).toMatch(new RegExp(`-${parts}$`));
    const back = join(dir, 'back.bin');
    await downloadObject(client, { bucket, key: 'ckpt/model.bin' }, back);
    expect(await sha256File(back)).toBe(await sha256File(src));
  });

  it('cancelled through its AbortSignal, an upload keeps its state and the next call resumes it in-process', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const src = join(dir, 'model.bin');
    randomFile(src, 30 * MiB);
    const resumeDir = join(dir, 'state');
    const slow = testClient(proxy.endpoint);
    const controller = new AbortController();
    const opts = { partSize: 5 * MiB, concurrency: 1, resumeDir };
    const err = await uploadFile(slow, src, { bucket, key: 'ckpt/abort.bin' }, {
      ...opts,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytesDone >= 10 * MiB) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TransferError', kind: 'aborted' });
    expect(readdirSync(resumeDir)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 500));
    const report = await uploadFile(slow, src, { bucket, key: 'ckpt/abort.bin' }, opts);
    expect(report.resumedBytes).toBeGreaterThanOrEqual(10 * MiB);
    expect(report.bytes + report.resumedBytes).toBe(30 * MiB);
    const back = join(dir, 'back.bin');
    await downloadObject(client, { bucket, key: 'ckpt/abort.bin' }, back, { verify: 'etag' });
    expect(await sha256File(back)).toBe(await sha256File(src));
  });

  it('a state file whose upload is gone on the server starts a fresh upload', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const src = join(dir, 'model.bin');
    randomFile(src, 12 * MiB);
    const resumeDir = join(dir, 'state');
    const args = [proxy.endpoint, src, bucket, 'ckpt/gone.bin', resumeDir, String(5 * MiB), '1'];
    const first = await runChild(args, 5 * MiB);
    expect(first.signal).toBe('SIGKILL');
    const uploads = (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'ckpt/gone.bin' }))).Uploads ?? [];
    for (const u of uploads) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
    proxy.reset();
    const second = await runChild(args);
    expect(second.code).toBe(0);
    expect(second.report!.resumedBytes).toBe(0);
    expect(proxy.counts.CreateMultipartUpload).toBe(1);
    // three parts, each sent at least once (a part retried under load is sent again)
    expect(proxy.counts.UploadPart).toBeGreaterThanOrEqual(3);
    const back = join(dir, 'back.bin');
    await downloadObject(client, { bucket, key: 'ckpt/gone.bin' }, back);
    expect(await sha256File(back)).toBe(await sha256File(src));
  });
});

// `trainctl s3 cleanup --keep-last-n N` through the built CLI against the real radosgw: dry run,
// refusal without confirmation, exactly the listed checkpoints deleted, LATEST's target kept,
// MANIFEST-aware; prefixes holding run records refused.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../src/transfer/index.js';
import { runCli } from '../helpers.js';
import { makeBucket, s3Env, testClient } from '../store/s3-helpers.js';

const client = testClient();
let bucket: string;
const put = (key: string, body = 'x') => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listObjects(client, { bucket, key: prefix })) out.push(o.key.slice(prefix.length));
  return out.sort();
}

beforeAll(async () => {
  bucket = await makeBucket(client, 'cli-cleanup');
});

describe('trainctl s3 cleanup', () => {
  it('previews, refuses without --yes off a terminal, then deletes exactly the older checkpoints', async () => {
    for (const s of ['000100', '000200', '000300', '000400']) await put(`flat/step-${s}.pt`, `w${s}`);
    await put('flat/checkpoint-250/model.safetensors');
    await put('flat/checkpoint-250/MANIFEST.json', '{}');
    await put('flat/README.txt', 'notes');
    const before = await keys('flat/');

    const dry = await runCli(['s3', 'cleanup', `s3://${bucket}/flat/`, '--keep-last-n', '2', '--dry-run'], { env: s3Env() });
    expect(dry.code).toBe(0);
    const lines = dry.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ +CHECKPOINT +FILES +SIZE +MODIFIED +WHY$/);
    expect(lines.slice(1, 4).map((l) => l.replace(/ +/g, ' ').trim())).toEqual([
      expect.stringMatching(/^- checkpoint-250 \(step 250\) 1 \d+ B \S+ older than the newest kept$/),
      expect.stringMatching(/^- step-000200\.pt \(step 200\) 1 7 B \S+ older than the newest kept$/),
      expect.stringMatching(/^- step-000100\.pt \(step 100\) 1 7 B \S+ older than the newest kept$/),
    ]);
    expect(lines).toContain('Keeping 3: newest step-000400.pt, step-000300.pt; 1 without a step number (README.txt).');
    expect(lines.at(-1)).toBe(`Cleanup: 3 checkpoints to delete (3 files, 17 B) in s3://${bucket}/flat/.`);
    expect(await keys('flat/')).toEqual(before);

    const refused = await runCli(['s3', 'cleanup', `s3://${bucket}/flat/`, '--keep-last-n', '2'], { env: s3Env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: refusing to delete without confirmation: stdin is not a terminal — pass --yes to delete non-interactively (CI)\n');
    expect(await keys('flat/')).toEqual(before);

    const done = await runCli(['s3', 'cleanup', `s3://${bucket}/flat/`, '--keep-last-n', '2', '--yes'], { env: s3Env() });
    expect(done.code).toBe(0);
    expect(done.stdout.trimEnd().split('\n').at(-1)).toBe('Deleted 3 checkpoints (17 B).');
    expect(await keys('flat/')).toEqual(['README.txt', 'step-000300.pt', 'step-000400.pt']);
  });

  it('narrows with --pattern and --older-than, and answers in JSON', async () => {
    for (const s of [1, 2, 3]) {
      await put(`mixed/model-${s}.pt`);
      await put(`mixed/optim-${s}.bin`);
    }
    const recent = await runCli(['s3', 'cleanup', `s3://${bucket}/mixed/`, '--keep-last-n', '1', '--older-than', '30d', '--dry-run'], { env: s3Env() });
    expect(recent.stdout).toContain('Nothing to delete');
    const r = await runCli(['s3', 'cleanup', `s3://${bucket}/mixed/`, '--keep-last-n', '1', '--pattern', 'model-*.pt', '--yes', '--output', 'json'], { env: s3Env() });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { decisions: { name: string; action: string; reason: string }[]; deleted: string[] };
    expect(out).toMatchObject({ formatVersion: 1, layout: 'files', keepLastN: 1, orderedBy: 'step', dryRun: false });
    expect(out.decisions.filter((d) => d.action === 'delete').map((d) => d.name)).toEqual(['model-2.pt', 'model-1.pt']);
    expect(out.decisions.filter((d) => d.reason === 'unmatched').map((d) => d.name).sort()).toEqual(['optim-1.bin', 'optim-2.bin', 'optim-3.bin']);
    expect(out.deleted.sort()).toEqual(['model-1.pt', 'model-2.pt']);
    expect(await keys('mixed/')).toEqual(['model-3.pt', 'optim-1.bin', 'optim-2.bin', 'optim-3.bin']);
  });

  it("keeps a store's LATEST target even when older than the newest N", async () => {
    for (const s of [10, 20, 30]) {
      await put(`runs/p/j/t1/checkpoints/${s}/model.pt`, `m${s}`);
      await put(`runs/p/j/t1/checkpoints/${s}/MANIFEST.json`, JSON.stringify({ step: s, createdAt: '2026-01-01T00:00:00Z', attempt: 1, files: [{ path: 'model.pt', size: 3, sha256: '0'.repeat(64) }] }));
    }
    await put('runs/p/j/t1/checkpoints/LATEST', '10\n');
    const r = await runCli(['s3', 'cleanup', `s3://${bucket}/runs/p/j/t1/checkpoints/`, '--keep-last-n', '1', '--dry-run'], { env: s3Env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^- +20 +1 +3 B .* older than the newest kept$/m);
    expect(r.stdout).toContain('Keeping 2: newest 30; LATEST 10.');
  });

  it('refuses a prefix that holds run records, and bad arguments, in one line', async () => {
    await put('store/p/j/t9/spec.json', '{}');
    await put('store/p/j/t9/metrics.jsonl', '');
    const cases: [string[], string][] = [
      [['s3', 'cleanup', `s3://${bucket}/store/p/j/`, '--keep-last-n', '1'], `error: s3://${bucket}/store/p/j/ holds trainctl run records (t9/metrics.jsonl), not just checkpoints — point at a trial's checkpoints/ prefix, or use \`trainctl checkpoint cleanup\`\n`],
      [['s3', 'cleanup', `s3://${bucket}/flat/`, '--keep-last-n', '0'], 'error: --keep-last-n must be at least 1 — cleanup always keeps the newest checkpoint; to remove everything, delete the prefix itself\n'],
      [['s3', 'cleanup', `s3://${bucket}/flat/`], 'error: --keep-last-n is required — say how many of the newest checkpoints to keep, e.g. --keep-last-n 3\n'],
      [['s3', 'cleanup', `s3://${bucket}/flat/`, '--keep-last-n', 'three'], 'error: --keep-last-n "three" is not a whole number — e.g. --keep-last-n 3\n'],
      [['s3', 'cleanup', `s3://${bucket}/flat/`, '--keep-last-n', '2', '--older-than', 'a while'], 'error: --older-than "a while" is not a duration — write it like 30s, 10m, 12h, 30d or 1h30m\n'],
      [['s3', 'cleanup', 's3://no-such-bucket-cli/x/', '--keep-last-n', '2'], 'error: bucket no-such-bucket-cli does not exist — check the bucket name and the endpoint/region\n'],
    ];
    for (const [args, stderr] of cases) expect(await runCli(args, { env: s3Env() })).toMatchObject({ code: 1, stdout: '', stderr });
    expect(await keys('store/')).toEqual(['p/j/t9/metrics.jsonl', 'p/j/t9/spec.json']);
  });
});

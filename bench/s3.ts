// bench:s3 — the transfer engine side by side with the AWS CLI (`aws s3 cp --recursive`, Debian
// awscli) and rclone (`rclone copy --transfers 32`, Debian rclone) on one radosgw (bluestore, so
// GiB-scale data fits in bounded RAM): upload and download of 2,000 × 64 KiB files and of one
// 1 GiB file, median of 3, each figure with the server's CPU seconds (radosgw + ceph-osd, from
// /proc) beside it. Every tool runs as its own process and is timed from spawn to exit, start-up
// included; trainctl's process reports its peak RSS. Goals (issue 6): small files ≤ 0.7× the AWS
// CLI and ≤ 1.0× rclone, 1 GiB ≤ 0.9× the AWS CLI and ≤ 1.0× rclone, both directions; peak RSS
// < 300 MB for the 1 GiB file.
//
//   npm run bench:s3                     the whole table (~5 min; needs ~4 GB of disk in $TMPDIR)
//   node dist/bench/s3.js --rounds 1     quicker, noisier
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { renderTable } from '../src/render/table.js';
import { createS3Client, downloadObject, downloadTree, uploadFile, uploadTree, type TransferOptions, type TransferReport } from '../src/transfer/index.js';
import { startS3Server } from '../scripts/s3-server.mjs';

const MiB = 1024 * 1024;
const SMALL_FILES = 2000;
const SMALL_SIZE = 64 * 1024;
const BIG_SIZE = 1024 * MiB;
const BUCKET = 'bench';

// ---- the trainctl side, run as a child process: `s3.js --child <op> <local> <bucket> <key>` ----

async function child(argv: string[]): Promise<void> {
  const [op, local, bucket, key] = argv as [string, string, string, string];
  const client = createS3Client({ endpoint: process.env.BENCH_S3_ENDPOINT, credentials: { accessKeyId: process.env.BENCH_S3_KEY!, secretAccessKey: process.env.BENCH_S3_SECRET! } });
  // BENCH_S3_OPTS: TransferOptions as JSON, for trying concurrency and part sizes by hand
  const opts = process.env.BENCH_S3_OPTS ? (JSON.parse(process.env.BENCH_S3_OPTS) as TransferOptions) : {};
  const loc = { bucket, key };
  let report: TransferReport;
  if (op === 'up-tree') report = await uploadTree(client, local, loc, opts);
  else if (op === 'down-tree') report = await downloadTree(client, loc, local, opts);
  else if (op === 'up-file') report = await uploadFile(client, local, loc, opts);
  else report = await downloadObject(client, loc, local, opts);
  if (report.failed.length > 0) throw new Error(`${report.failed.length} failed: ${report.failed[0]!.message}`);
  process.stdout.write(`${JSON.stringify({ files: report.files, bytes: report.bytes, maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`);
  client.destroy();
}

if (process.argv[2] === '--child') {
  await child(process.argv.slice(3));
  process.exit(0);
}

// ---- the bench ----

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 3) || 3;
const self = fileURLToPath(import.meta.url);
const AWS = '/usr/bin/aws';
const RCLONE = '/usr/bin/rclone';

function ensureInstalled(): void {
  const missing = [
    ['awscli', AWS],
    ['rclone', RCLONE],
  ].filter(([, bin]) => {
    try {
      statSync(bin!);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  const pkgs = missing.map(([p]) => p!);
  if (process.getuid?.() !== 0) throw new Error(`bench:s3 needs ${pkgs.join(' and ')}: sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}`);
  console.error(`bench:s3: installing ${pkgs.join(', ')} from Debian's packages`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env }).status === 0;
  if (!install() && !(spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env }).status === 0 && install())) throw new Error('bench:s3: apt-get could not install the peers');
}

ensureInstalled();
const root = mkdtempSync(join(tmpdir(), 'trainctl-bench-s3-'));
console.error('bench:s3: starting radosgw (bluestore) …');
const server = await startS3Server({ bluestore: true, blockGiB: 48 });
let stopped = false;
const cleanup = async () => {
  if (stopped) return;
  stopped = true;
  await server.stop();
  rmSync(root, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

try {
  await main();
} finally {
  await cleanup();
}

interface Sample {
  ms: number;
  serverCpuS: number;
  maxRssMB?: number;
}

type Tool = 'trainctl' | 'aws' | 'rclone';
type Case = 'small up' | 'small down' | '1 GiB up' | '1 GiB down';

async function main(): Promise<void> {
  const { endpoint, accessKeyId, secretAccessKey } = server;
  const client = createS3Client({ endpoint, credentials: { accessKeyId, secretAccessKey } });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();

  console.error(`bench:s3: writing ${SMALL_FILES} × 64 KiB and one 1 GiB file of random bytes …`);
  const small = join(root, 'small');
  mkdirSync(small);
  for (let i = 0; i < SMALL_FILES; i++) writeFileSync(join(small, `f${String(i).padStart(4, '0')}.bin`), randomFillSync(Buffer.alloc(SMALL_SIZE)));
  const big = join(root, 'big.bin');
  const fd = openSync(big, 'w');
  const chunk = Buffer.alloc(16 * MiB);
  for (let n = 0; n < BIG_SIZE; n += chunk.length) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  settle();

  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (/^(AWS_|RCLONE_)/.test(k)) delete clean[k];
  const awsEnv = { ...clean, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: join(root, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(root, 'none'), AWS_PAGER: '' };
  const rcloneEnv = { ...clean, RCLONE_CONFIG: join(root, 'none.conf'), RCLONE_CONFIG_BENCH_TYPE: 's3', RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph', RCLONE_CONFIG_BENCH_ENDPOINT: endpoint, RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: accessKeyId, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: secretAccessKey };
  const ourEnv = { ...clean, BENCH_S3_ENDPOINT: endpoint, BENCH_S3_KEY: accessKeyId, BENCH_S3_SECRET: secretAccessKey, NODE_NO_WARNINGS: '1' };

  const commands: Record<Tool, Record<Case, (r: number, out: string) => { cmd: string; args: string[]; env: NodeJS.ProcessEnv }>> = {
    trainctl: {
      'small up': (r) => ({ cmd: process.execPath, args: [self, '--child', 'up-tree', small, BUCKET, `trainctl/small-${r}`], env: ourEnv }),
      'small down': (r, out) => ({ cmd: process.execPath, args: [self, '--child', 'down-tree', out, BUCKET, `trainctl/small-${r}`], env: ourEnv }),
      '1 GiB up': (r) => ({ cmd: process.execPath, args: [self, '--child', 'up-file', big, BUCKET, `trainctl/big-${r}.bin`], env: ourEnv }),
      '1 GiB down': (r, out) => ({ cmd: process.execPath, args: [self, '--child', 'down-file', join(out, 'big.bin'), BUCKET, `trainctl/big-${r}.bin`], env: ourEnv }),
    },
    aws: {
      'small up': (r) => ({ cmd: AWS, args: ['--endpoint-url', endpoint, 's3', 'cp', '--recursive', '--quiet', small, `s3://${BUCKET}/aws/small-${r}/`], env: awsEnv }),
      'small down': (r, out) => ({ cmd: AWS, args: ['--endpoint-url', endpoint, 's3', 'cp', '--recursive', '--quiet', `s3://${BUCKET}/aws/small-${r}/`, out], env: awsEnv }),
      '1 GiB up': (r) => ({ cmd: AWS, args: ['--endpoint-url', endpoint, 's3', 'cp', '--quiet', big, `s3://${BUCKET}/aws/big-${r}.bin`], env: awsEnv }),
      '1 GiB down': (r, out) => ({ cmd: AWS, args: ['--endpoint-url', endpoint, 's3', 'cp', '--quiet', `s3://${BUCKET}/aws/big-${r}.bin`, join(out, 'big.bin')], env: awsEnv }),
    },
    rclone: {
      'small up': (r) => ({ cmd: RCLONE, args: ['copy', '-q', '--transfers', '32', small, `bench:${BUCKET}/rclone/small-${r}`], env: rcloneEnv }),
      'small down': (r, out) => ({ cmd: RCLONE, args: ['copy', '-q', '--transfers', '32', `bench:${BUCKET}/rclone/small-${r}`, out], env: rcloneEnv }),
      '1 GiB up': (r) => ({ cmd: RCLONE, args: ['copy', '-q', '--transfers', '32', big, `bench:${BUCKET}/rclone/big-${r}/`], env: rcloneEnv }),
      '1 GiB down': (r, out) => ({ cmd: RCLONE, args: ['copy', '-q', '--transfers', '32', `bench:${BUCKET}/rclone/big-${r}/big.bin`, out], env: rcloneEnv }),
    },
  };
  const expected: Record<Case, { files: number; bytes: number }> = {
    'small up': { files: 0, bytes: 0 },
    'small down': { files: SMALL_FILES, bytes: SMALL_FILES * SMALL_SIZE },
    '1 GiB up': { files: 0, bytes: 0 },
    '1 GiB down': { files: 1, bytes: BIG_SIZE },
  };

  const tools: Tool[] = ['trainctl', 'aws', 'rclone'];
  // --only small|big: one size's two cases (a download needs the upload of its round)
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const cases = (['small up', 'small down', '1 GiB up', '1 GiB down'] as Case[]).filter((c) => !only || (only === 'small') === c.startsWith('small'));
  const samples = new Map<string, Sample[]>();
  // The small-file outputs stay until the end (1.2 GB with 3 rounds). 2,000 files deleted just
  // before a download make it create its files 10–40× slower on ext4 (0.5–0.8 ms of kernel time
  // per file instead of ~20 µs): for 30 s after a delete the inode allocator checks each recently
  // freed inode again on every create (recently_deleted() in perf). Deleting each output before the
  // next tool ran charged every tool ~1.5 s of that and swamped the differences between them.
  const kept: string[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const c of cases) {
      // the order of the tools turns each round, so no tool always runs on a warmer server
      for (let t = 0; t < tools.length; t++) {
        const tool = tools[(t + r - 1) % tools.length]!;
        const out = join(root, `out-${tool}-${c.replace(/\W/g, '')}-${r}`);
        mkdirSync(out);
        const { cmd, args, env } = commands[tool][c](r, out);
        const s = await timed(cmd, args, env);
        const want = expected[c];
        if (want.files > 0) {
          const got = countFiles(out);
          if (got.files !== want.files || got.bytes !== want.bytes) throw new Error(`${tool} ${c}: got ${got.files} files / ${got.bytes} bytes, expected ${want.files} / ${want.bytes}`);
        }
        if (c === 'small down') kept.push(out);
        else rmSync(out, { recursive: true, force: true });
        settle();
        samples.set(`${tool}|${c}`, [...(samples.get(`${tool}|${c}`) ?? []), s]);
        console.error(`  round ${r}  ${c.padEnd(10)}  ${tool.padEnd(8)}  ${(s.ms / 1000).toFixed(2)} s  server CPU ${s.serverCpuS.toFixed(2)} s${s.maxRssMB ? `  peak RSS ${s.maxRssMB.toFixed(0)} MB` : ''}`);
      }
    }
  }
  for (const out of kept) rmSync(out, { recursive: true, force: true });
  report(samples, cases);
}

/**
 * Lets the file system finish with the outputs just deleted (on a `discard` mount, removing 2,000
 * files keeps the kernel busy for a while) so the next tool does not pay for the previous one.
 */
function settle(): void {
  spawnSync('sync');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
}

function countFiles(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += statSync(join(e.parentPath, e.name)).size;
  }
  return { files, bytes };
}

/** utime + stime of the radosgw and ceph-osd processes, in seconds. */
function serverCpu(): number {
  let ticks = 0;
  for (const pid of server.pids.slice(1)) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100; // USER_HZ
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const cpu0 = serverCpu();
    const t0 = performance.now();
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = performance.now() - t0;
      const serverCpuS = serverCpu() - cpu0;
      if (code !== 0) return reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} … exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      const last = stdout.trim().split('\n').at(-1) ?? '';
      const maxRssMB = last.startsWith('{') ? (JSON.parse(last) as { maxRssMB: number }).maxRssMB : undefined;
      resolve({ ms, serverCpuS, ...(maxRssMB !== undefined ? { maxRssMB } : {}) });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function report(samples: Map<string, Sample[]>, cases: Case[]): void {
  const med = (tool: Tool, c: Case) => {
    const s = samples.get(`${tool}|${c}`)!;
    return { s: median(s.map((x) => x.ms)) / 1000, cpu: median(s.map((x) => x.serverCpuS)), rss: Math.max(...s.map((x) => x.maxRssMB ?? 0)) };
  };
  const goals: Record<Case, { aws: number; rclone: number }> = {
    'small up': { aws: 0.7, rclone: 1.0 },
    'small down': { aws: 0.7, rclone: 1.0 },
    '1 GiB up': { aws: 0.9, rclone: 1.0 },
    '1 GiB down': { aws: 0.9, rclone: 1.0 },
  };
  const cell = (x: { s: number; cpu: number }) => `${x.s.toFixed(2)} s (${x.cpu.toFixed(2)})`;
  const rows = cases.map((c) => {
    const ours = med('trainctl', c);
    const aws = med('aws', c);
    const rclone = med('rclone', c);
    const g = goals[c];
    const vsAws = ours.s / aws.s;
    const vsRclone = ours.s / rclone.s;
    return {
      c,
      ours: cell(ours),
      aws: cell(aws),
      rclone: cell(rclone),
      vsAws: `${vsAws.toFixed(2)}× (≤ ${g.aws})`,
      vsRclone: `${vsRclone.toFixed(2)}× (≤ ${g.rclone.toFixed(1)})`,
      verdict: vsAws <= g.aws && vsRclone <= g.rclone ? 'met' : 'MISSED',
    };
  });
  const rss = Math.max(med('trainctl', '1 GiB up').rss, med('trainctl', '1 GiB down').rss);
  console.log(`\nbench:s3 — radosgw (bluestore) on 127.0.0.1, ${cpus().length} CPUs, median of ${rounds}; wall clock from spawn to exit, (server CPU s: radosgw + ceph-osd)`);
  console.log(
    renderTable(rows, [
      { header: 'case', value: (r) => r.c },
      { header: 'trainctl', value: (r) => r.ours, align: 'right' },
      { header: 'aws s3 cp', value: (r) => r.aws, align: 'right' },
      { header: 'rclone --transfers 32', value: (r) => r.rclone, align: 'right' },
      { header: 'vs aws', value: (r) => r.vsAws, align: 'right' },
      { header: 'vs rclone', value: (r) => r.vsRclone, align: 'right' },
      { header: 'goal', value: (r) => r.verdict },
    ]),
  );
  console.log(`trainctl peak RSS, 1 GiB file: ${rss.toFixed(0)} MB (goal < 300 MB): ${rss < 300 ? 'met' : 'MISSED'}`);
}

// The aws provider's pure decisions: tags, tokens, market order, error kinds, instance → resource,
// and the bootstrap script (run for real through bash with a fake node on PATH).
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapScript, nodeDirName, stopScript } from '../../src/providers/aws/bootstrap.js';
import { amiSource, classifyAwsError, clientToken, DEFAULT_AMI_PARAMETER, hasGpus, marketsToTry, nodeTags, toResource } from '../../src/providers/aws/model.js';
import { tempDir } from '../helpers.js';

const node = { project: 'vision', job: 'resnet', trial: 'resnet-3f2a', specHash: 'abc123', attempt: 2, rank: 1 };

describe('aws model', () => {
  it('tags every node with the DESIGN §4 tags and its attempt', () => {
    expect(nodeTags(node)).toEqual({
      'trainctl:managed': 'true', 'trainctl:project': 'vision', 'trainctl:job': 'resnet', 'trainctl:trial': 'resnet-3f2a',
      'trainctl:spec-hash': 'abc123', 'trainctl:node-rank': '1', 'trainctl:attempt': '2', Name: 'trainctl-resnet-resnet-3f2a-a2-r1', CreatedBy: 'trainctl',
    });
  });

  it('gives one stable ClientToken per (trial, attempt, rank, market, generation), ≤ 64 chars', () => {
    const t = clientToken(node, 'spot');
    expect(t).toBe(clientToken({ ...node }, 'spot'));
    expect(t.length).toBeLessThanOrEqual(64);
    const others = [
      clientToken({ ...node, attempt: 3 }, 'spot'), clientToken({ ...node, rank: 0 }, 'spot'), clientToken({ ...node, trial: 'x' }, 'spot'),
      clientToken({ ...node, project: 'p2' }, 'spot'), clientToken(node, 'on-demand'), clientToken(node, 'spot', 1),
    ];
    expect(new Set([t, ...others]).size).toBe(7);
  });

  it.each([
    ['on-demand', 0, undefined, ['on-demand']],
    ['spot', 5, 1, ['spot']],
    ['spot-with-fallback', 0, undefined, ['spot', 'on-demand']],
    ['spot-with-fallback', 1, 2, ['spot', 'on-demand']],
    ['spot-with-fallback', 2, 2, ['on-demand']],
    ['spot-with-fallback', 9, 0, ['spot', 'on-demand']],
  ] as const)('market %s after %i interruptions (fallback after %s) tries %j', (market, n, after, want) => {
    expect(marketsToTry(market, n, after)).toEqual(want);
  });

  it.each([
    [{ name: 'InsufficientInstanceCapacity' }, 'capacity'],
    [{ name: 'SpotMaxPriceTooLow' }, 'capacity'],
    [{ name: 'MaxSpotInstanceCountExceeded' }, 'capacity'],
    [{ name: 'Unsupported' }, 'capacity'],
    [{ name: 'RequestLimitExceeded' }, 'throttled'],
    [{ name: 'ThrottlingException' }, 'throttled'],
    [{ name: 'InvalidInstanceID.NotFound' }, 'not-found'],
    [{ name: 'CredentialsProviderError', message: 'Could not load credentials from any providers' }, 'credentials'],
    [{ name: 'AuthFailure' }, 'credentials'],
    [{ name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'unreachable'],
    [{ name: 'InvalidAMIID.Malformed' }, 'other'],
  ])('classifies %j as %s', (err, kind) => {
    expect(classifyAwsError(err)).toBe(kind);
  });

  it('reads a managed instance as a resource and ignores the rest', () => {
    const tags = Object.entries(nodeTags(node)).map(([Key, Value]) => ({ Key, Value }));
    const launch = new Date('2026-11-25T10:00:00Z');
    expect(toResource({ InstanceId: 'i-1', State: { Name: 'running' }, LaunchTime: launch, Tags: tags })).toEqual({
      provider: 'aws', id: 'i-1', project: 'vision', job: 'resnet', trial: 'resnet-3f2a', specHash: 'abc123', nodeRank: 1, attempt: 2, state: 'running', launchedAt: launch.toISOString(),
    });
    expect(toResource({ InstanceId: 'i-1', State: { Name: 'shutting-down' }, Tags: tags })?.state).toBe('stopping');
    expect(toResource({ InstanceId: 'i-1', State: { Name: 'terminated' }, Tags: tags })).toBeUndefined();
    expect(toResource({ InstanceId: 'i-2', State: { Name: 'running' }, Tags: tags.filter((t) => t.Key !== 'trainctl:managed') })).toBeUndefined();
    expect(toResource({ InstanceId: 'i-3', State: { Name: 'running' }, Tags: [{ Key: 'trainctl:managed', Value: 'true' }] })).toBeUndefined();
  });

  it('knows GPU families and AMI sources', () => {
    expect(['g5.xlarge', 'p4d.24xlarge', 'g4dn.xlarge', 'p5.48xlarge'].map(hasGpus)).toEqual([true, true, true, true]);
    expect(['c5.large', 't3.micro', 'm7i.large'].map(hasGpus)).toEqual([false, false, false]);
    expect(amiSource(undefined)).toEqual({ kind: 'parameter', name: DEFAULT_AMI_PARAMETER });
    expect(amiSource('resolve:ssm:/my/ami')).toEqual({ kind: 'parameter', name: '/my/ami' });
    expect(amiSource('ami-0abc')).toEqual({ kind: 'id', id: 'ami-0abc' });
  });
});

describe('aws bootstrap script', () => {
  const task = {
    formatVersion: 1, project: 'vision', job: 'resnet', trial: "t-'; rm -rf / #", specHash: 'h', attempt: 1, nodeRank: 0, nodes: 1, nprocPerNode: 1,
    parameters: { lr: "'; rm -rf / #" }, command: "python train.py --lr ''\\''; rm -rf / #'", env: {}, storeUri: 's3://b/runs/',
    checkpoint: { dir: 'ckpt', pattern: '*.pt', keepLastN: 2, upload: 'on-save', resumeArg: '--resume {path}', gracePeriodMs: 1000 },
    metrics: { patterns: {} }, pricePerHour: 0.1, limits: { onExceed: 'stop' }, heartbeatMs: 2000,
  } as const;

  it('fetches, unpacks, writes task.json with its workDir, starts the runner in the background and returns', async () => {
    const home = tempDir();
    const bin = join(home, 'bin');
    mkdirSync(bin);
    const srv = join(home, 'srv');
    mkdirSync(srv);
    writeFileSync(join(srv, 'runner.js'), "require('fs').writeFileSync('ran.txt', process.argv.slice(2).join(' '));");
    mkdirSync(join(home, 'code'));
    writeFileSync(join(home, 'code', 'train.py'), 'print(1)\n');
    spawnSync('bash', ['-c', `tar -czf ${srv}/code.tgz -C ${home}/code .`]);
    // fetch() cannot read file:// URLs: serve the two files over HTTP, as S3's presigned links are
    const server = createServer((req, res) => res.end(readFileSync(join(srv, (req.url ?? '/').split('?')[0]!))));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    const script = bootstrapScript({ task: task as never, runnerUrl: `http://127.0.0.1:${port}/runner.js?X-Amz-Signature=a%2Fb`, codeUrl: `http://127.0.0.1:${port}/code.tgz`, spot: true });
    writeFileSync(join(bin, 'poweroff'), `#!/bin/bash\necho off > ${home}/powered-off\n`);
    chmodSync(join(bin, 'poweroff'), 0o755);
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((ok) => {
      execFile('bash', ['-c', script], { env: { PATH: process.env.PATH!, HOME: home, TRAINCTL_POWEROFF: join(bin, 'poweroff') }, timeout: 20_000 }, (err, stdout, stderr) => ok({ status: err ? (err.code as number) : 0, stdout, stderr }));
    });
    server.close();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/trainctl: runner started in .* \(pid \d+\)/);
    const dir = join(home, nodeDirName(task));
    const written = JSON.parse(readFileSync(join(dir, 'task.json'), 'utf8')) as { workDir: string; trial: string; parameters: { lr: string } };
    expect(written.workDir).toBe(join(dir, 'work'));
    expect(written.trial).toBe(task.trial);
    expect(written.parameters.lr).toBe("'; rm -rf / #");
    expect(readFileSync(join(dir, 'work', 'train.py'), 'utf8')).toBe('print(1)\n');
    // the runner ran with task.json, then the wrapper powered the node off
    for (let i = 0; i < 50 && !existsSync(join(home, 'powered-off')); i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(readFileSync(join(dir, 'ran.txt'), 'utf8')).toBe('task.json');
    expect(existsSync(join(home, 'powered-off'))).toBe(true);
  });

  it('stop script: SIGTERM to the recorded runner, waits for it, and says so', () => {
    const home = tempDir();
    mkdirSync(join(home, 'trainctl'));
    const sleeper = spawnSync('bash', ['-c', `(trap 'exit 0' TERM; while true; do sleep 0.1; done) > /dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
    writeFileSync(join(home, 'trainctl', 'runner.pid'), sleeper.stdout.trim());
    const r = spawnSync('bash', ['-c', stopScript(10)], { env: { PATH: process.env.PATH!, HOME: home }, encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('trainctl: runner stopped');
    expect(r.status).toBe(0);
    const again = spawnSync('bash', ['-c', stopScript(10)], { env: { PATH: process.env.PATH!, HOME: home }, encoding: 'utf8' });
    expect(again.stdout.trim()).toBe('trainctl: runner already gone');
  });
});

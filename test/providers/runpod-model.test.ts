// The runpod provider's pure decisions: pod names and env labels, the offer order (GPU type
// preference, then on-demand when allowed), error kinds, pod → resource/drift, prices, the
// config file key, and the pod bootstrap (run for real through bash: it ends its own pod).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podBootstrapScript, podDirName, START_COMMAND } from '../../src/providers/runpod/bootstrap.js';
import { configFileKey, runpodConfig } from '../../src/providers/runpod/clients.js';
import {
  classifyAnswer, offerPricePerGpu, offersToTry, parsePod, podLabels, podName, toGone, toResource, worstCasePrice, type GpuTypePrice,
} from '../../src/providers/runpod/model.js';
import type { ResolvedCompute } from '../../src/spec/types.js';
import { splitCommand } from '../emulator/runpod-world.js';
import { tempDir } from '../helpers.js';

const node = { project: 'vision', job: 'resnet', trial: 'resnet-3f2a', specHash: 'abc123', attempt: 2, rank: 0 };
const created = new Date('2026-11-25T10:00:00Z');
type RunpodCompute = Extract<ResolvedCompute, { provider: 'runpod' }>;
const compute = (c: Partial<RunpodCompute>): RunpodCompute => ({
  provider: 'runpod', gpuCount: 1, cloudType: 'ALL', interruptible: false, image: 'runpod/pytorch', volumeGiB: 50, containerDiskGiB: 20, ...c,
});

describe('runpod model', () => {
  it('names a pod per trial, attempt and rank, and labels it with the DESIGN §4 labels as env vars', () => {
    expect(podName(node)).toBe('trainctl-resnet-resnet-3f2a-a2-r0');
    expect(podName({ ...node, job: 'j'.repeat(300) }).length).toBe(191);
    expect(podLabels(node, created)).toEqual({
      TRAINCTL_MANAGED: 'true', TRAINCTL_PROJECT: 'vision', TRAINCTL_JOB: 'resnet', TRAINCTL_TRIAL: 'resnet-3f2a', TRAINCTL_SPEC_HASH: 'abc123',
      TRAINCTL_NODE_RANK: '0', TRAINCTL_ATTEMPT: '2', TRAINCTL_CREATED_BY: 'trainctl', TRAINCTL_CREATED_AT: '2026-11-25T10:00:00.000Z',
    });
  });

  it.each([
    [{ gpuType: 'A' }, 0, 2, ['A/on-demand']],
    [{ gpuTypes: ['A', 'B'] as [string, string] }, 0, 2, ['A/on-demand', 'B/on-demand']],
    // interruptible without a bid: every GPU type interruptible first, then on-demand (spot-with-fallback)
    [{ gpuTypes: ['A', 'B'] as [string, string], interruptible: true }, 0, 2, ['A/interruptible', 'B/interruptible', 'A/on-demand', 'B/on-demand']],
    // interrupted retry.fallbackToOnDemandAfter times: straight to on-demand
    [{ gpuTypes: ['A', 'B'] as [string, string], interruptible: true }, 2, 2, ['A/on-demand', 'B/on-demand']],
    // a bid is a price ceiling: never on-demand
    [{ gpuTypes: ['A', 'B'] as [string, string], interruptible: true, bidPerGpu: 0.3 }, 5, 2, ['A/interruptible', 'B/interruptible']],
  ])('compute %j after %i interruptions (fallback after %s) tries %j', (c, n, after, want) => {
    expect(offersToTry(compute(c), n, after).map((o) => `${o.gpuType}/${o.market}`)).toEqual(want);
  });

  it.each([
    [200, 'There are no longer any instances available with the requested specifications. Please refresh and try again.', 'capacity'],
    [200, 'There are not enough free GPUs on the host machine to start this pod.', 'capacity'],
    [200, 'Your bid price ($0.1/GPU) is too low: the minimum bid for X is $0.2/GPU.', 'capacity'],
    [401, 'Unauthorized', 'auth'],
    [429, 'Too Many Requests', 'throttled'],
    [500, 'Internal Server Error', 'server'],
    [200, 'Something went wrong. Please try again later or contact support.', 'server'],
    [404, 'pod x not found', 'not-found'],
    [200, 'Invalid GPU type: "NVIDIA RTX 9999" does not exist', 'not-found'],
    [400, 'imageName is required', 'invalid'],
  ])('classifies HTTP %i %j as %s', (status, message, kind) => {
    expect(classifyAnswer(status, message)).toBe(kind);
  });

  it('reads a REST pod (env object) and a GraphQL one (env list) alike, and maps only RUNNING to live', () => {
    const env = podLabels(node, created);
    const rest = parsePod({ id: 'p1', name: podName(node), desiredStatus: 'RUNNING', env, interruptible: true, gpu: { id: 'NVIDIA A40', count: 2 }, costPerHr: 0.4 })!;
    const gql = parsePod({ id: 'p1', name: podName(node), desiredStatus: 'RUNNING', env: Object.entries(env).map(([k, v]) => `${k}=${v}`), podType: 'INTERRUPTABLE', gpuCount: 2 })!;
    expect(gql.env).toEqual(rest.env);
    expect([rest.interruptible, gql.interruptible, rest.gpuTypeId, rest.gpuCount]).toEqual([true, true, 'NVIDIA A40', 2]);
    const want = { provider: 'runpod', id: 'p1', project: 'vision', job: 'resnet', trial: 'resnet-3f2a', specHash: 'abc123', nodeRank: 0, attempt: 2, state: 'running', launchedAt: created.toISOString() };
    expect(toResource(rest)).toEqual(want);
    expect(toGone(rest)).toBeUndefined();
    // an evicted interruptible pod stays listed EXITED: not live (the planner resumes), but drift
    const evicted = { ...rest, desiredStatus: 'EXITED', lastStatusChange: 'Exited by RunPod' };
    expect(toResource(evicted)).toBeUndefined();
    expect(toGone(evicted)).toMatchObject({ id: 'p1', trial: 'resnet-3f2a', attempt: 2, detail: 'pod EXITED: Exited by RunPod' });
    expect(toResource({ ...rest, desiredStatus: 'TERMINATED' })).toBeUndefined();
    // not ours, or labels broken: never a resource, never drift
    const { TRAINCTL_MANAGED: _m, ...unmanaged } = env;
    expect(toResource({ ...rest, env: unmanaged })).toBeUndefined();
    expect(toGone({ ...evicted, env: unmanaged })).toBeUndefined();
    expect(toResource({ ...rest, env: { ...env, TRAINCTL_NODE_RANK: 'x' } })).toBeUndefined();
    expect(parsePod({ name: 'no id' })).toBeUndefined();
  });

  it('prices an offer from the live figures and takes the dearest offer for the worst case', () => {
    const live = new Map<string, GpuTypePrice>([
      ['A', { id: 'A', securePrice: 0.69, communityPrice: 0.34, minimumBidPrice: 0.2 }],
      ['B', { id: 'B', securePrice: 0.43, communityPrice: 0.22, minimumBidPrice: 0.11 }],
    ]);
    expect(offerPricePerGpu(live.get('A'), 'on-demand', { cloudType: 'SECURE' })).toBe(0.69);
    expect(offerPricePerGpu(live.get('A'), 'on-demand', { cloudType: 'COMMUNITY' })).toBe(0.34);
    expect(offerPricePerGpu(live.get('A'), 'on-demand', { cloudType: 'ALL' })).toBe(0.69);
    expect(offerPricePerGpu(live.get('A'), 'interruptible', { cloudType: 'ALL' })).toBe(0.2);
    expect(offerPricePerGpu(live.get('A'), 'interruptible', { cloudType: 'ALL', bidPerGpu: 0.25 })).toBe(0.25);
    // a bid caps the price; without one the trial may end on-demand, the dearest offer
    expect(worstCasePrice(compute({ gpuTypes: ['A', 'B'], gpuCount: 2, interruptible: true, bidPerGpu: 0.25 }), live, 2)).toBe(0.5);
    expect(worstCasePrice(compute({ gpuTypes: ['A', 'B'], gpuCount: 2, interruptible: true }), live, 2)).toBe(1.38);
    expect(worstCasePrice(compute({ gpuTypes: ['A', 'C'] }), live, undefined)).toBeUndefined();
  });

  it('finds the API key in the environment or in runpodctl\'s config.toml, and the endpoints in RUNPOD_API_URL / RUNPOD_REST_URL', () => {
    expect(configFileKey('apikey = "rpa_ABC"\napiurl = "https://api.runpod.io/graphql"\n')).toBe('rpa_ABC');
    expect(configFileKey('apiKey = \'rpa_X\'')).toBe('rpa_X');
    expect(configFileKey('apikey = ""')).toBeUndefined();
    const home = tempDir('trainctl-runpod-home-');
    expect(runpodConfig({ HOME: home })).toEqual({ graphqlUrl: 'https://api.runpod.io/graphql', restUrl: 'https://rest.runpod.io/v1' });
    mkdirSync(join(home, '.runpod'));
    writeFileSync(join(home, '.runpod', 'config.toml'), 'apikey = "rpa_FILE"\n');
    expect(runpodConfig({ HOME: home }).apiKey).toBe('rpa_FILE');
    expect(runpodConfig({ HOME: home, RUNPOD_API_KEY: 'rpa_ENV', RUNPOD_API_URL: 'http://x/graphql', RUNPOD_REST_URL: 'http://x/v1/' }))
      .toEqual({ graphqlUrl: 'http://x/graphql', restUrl: 'http://x/v1', apiKey: 'rpa_ENV' });
  });
});

describe('runpod pod bootstrap', () => {
  it('the start command splits into one bash -c that decodes the bootstrap from the pod env', () => {
    expect(splitCommand(START_COMMAND)).toEqual(['bash', '-c', 'eval "$(printf %s "$TRAINCTL_BOOTSTRAP" | base64 -d)"']);
  });

  it('a restarted container whose runner already ended only deletes its own pod, with the pod-scoped key', async () => {
    const seen: { method?: string; url?: string; auth?: string }[] = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization });
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const root = tempDir('trainctl-pod-');
      const task = { trial: 'resnet-3f2a', attempt: 2, nodeRank: 0 } as never;
      mkdirSync(join(root, podDirName(task)), { recursive: true });
      writeFileSync(join(root, podDirName(task), 'done'), '');
      const script = podBootstrapScript({ task, runnerUrl: 'http://127.0.0.1:1/runner.js', codeUrl: 'http://127.0.0.1:1/code.tgz' });
      const port = (server.address() as AddressInfo).port;
      // spawn, not spawnSync: the fake API in this process must answer while bash runs
      const r = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
        const child = spawn('bash', ['-c', START_COMMAND], {
          env: {
            PATH: process.env.PATH!, HOME: root, TRAINCTL_POD_ROOT: root, RUNPOD_POD_ID: 'pod123', RUNPOD_API_KEY: 'rpa_PODKEY',
            TRAINCTL_RUNPOD_REST_URL: `http://127.0.0.1:${port}/v1`, TRAINCTL_BOOTSTRAP: Buffer.from(script).toString('base64'),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
        child.on('close', (status) => resolve({ status, stdout }));
      });
      expect(r.stdout).toContain('the runner has ended; ending the pod');
      expect(r.stdout).toContain('pod pod123 deleted');
      expect(r.status).toBe(0);
      expect(seen).toEqual([{ method: 'DELETE', url: '/v1/pods/pod123', auth: 'Bearer rpa_PODKEY' }]);
    } finally {
      server.close();
    }
  });
});

// The RunPod emulator's wire shapes, driven with plain fetch as any client would: auth, GraphQL
// create/list/stop/terminate and gpuTypes, the REST pods API, error shapes, faults, and pods whose
// start command runs as a local process.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './helpers.js';
import { startRunpodEmulator, type RunpodEmulator } from './runpod.js';

let emu: RunpodEmulator;

beforeAll(async () => {
  emu = await startRunpodEmulator({ startDelayMs: 50, stopGraceMs: 1500, podEnv: { EXTRA: 'from-podEnv' } });
});
afterAll(async () => { await emu?.stop(); });

async function gql(query: string, variables: Record<string, unknown> = {}, key: string | null = emu.apiKey): Promise<{ status: number; body: { data?: Record<string, unknown>; errors?: { message: string; path?: string[] }[] } }> {
  const res = await fetch(emu.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as never };
}

async function rest(method: string, path: string, body?: unknown, key: string | null = emu.apiKey): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${emu.restUrl}${path}`, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

// a start command that shows what it got, and says when SIGTERM reaches it
const SCRIPT = 'echo "id=$RUNPOD_POD_ID extra=$EXTRA label=$TRAINCTL_MANAGED key=${RUNPOD_API_KEY:0:7} pwd=$PWD" > seen.txt; trap "echo term >> seen.txt; exit 0" TERM; while true; do sleep 0.05; done';
const DEPLOY = `mutation Deploy($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { id name desiredStatus costPerHr podType env machine { gpuDisplayName } } }`;
const deployInput = (name: string, extra: Record<string, unknown> = {}) => ({
  input: { name, imageName: 'runpod/pytorch', gpuTypeId: 'NVIDIA GeForce RTX 4090', gpuCount: 2, cloudType: 'SECURE', volumeInGb: 10, containerDiskInGb: 10, dockerArgs: `bash -c '${SCRIPT}'`, env: [{ key: 'TRAINCTL_MANAGED', value: 'true' }], ...extra },
});

describe('RunPod emulator', () => {
  it('answers 401 without a valid key; GraphQL also takes ?api_key=, REST only the Bearer header', async () => {
    expect((await gql('query { myself { id } }', {}, null)).status).toBe(401);
    expect(await gql('query { myself { id } }', {}, 'rpa_WRONG')).toEqual({ status: 401, body: { message: 'Unauthorized' } });
    expect((await rest('GET', '/pods', undefined, null)).status).toBe(401);
    const viaQuery = await fetch(`${emu.graphqlUrl}?api_key=${emu.apiKey}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ myself { id } }' }) });
    expect(viaQuery.status).toBe(200);
    expect((await fetch(`${emu.restUrl}/pods?api_key=${emu.apiKey}`)).status).toBe(401);
  });

  it('creates an on-demand pod through GraphQL whose start command runs in its own dir with the pod env, lists it both ways, stops and deletes it', async () => {
    const created = await gql(DEPLOY, deployInput('wire-1'));
    expect(created.status).toBe(200);
    const pod = created.body.data!.podFindAndDeployOnDemand as { id: string; env: string[] };
    expect(created.body.data!.podFindAndDeployOnDemand).toMatchObject({ name: 'wire-1', desiredStatus: 'RUNNING', costPerHr: 1.38, podType: 'RESERVED', machine: { gpuDisplayName: 'RTX 4090' } });
    expect(pod.env).toEqual(['TRAINCTL_MANAGED=true']);
    const dir = emu.pods().find((p) => p.id === pod.id)!.dir;
    const seen = await until(() => existsSync(join(dir, 'seen.txt')) && readFileSync(join(dir, 'seen.txt'), 'utf8'), 'the start command', 30_000);
    expect(seen.trim()).toBe(`id=${pod.id} extra=from-podEnv label=true key=rpa_POD pwd=${dir}`);

    const listed = await rest('GET', '/pods');
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual(expect.arrayContaining([expect.objectContaining({ id: pod.id, name: 'wire-1', desiredStatus: 'RUNNING', env: { TRAINCTL_MANAGED: 'true' }, interruptible: false, gpu: expect.objectContaining({ id: 'NVIDIA GeForce RTX 4090', count: 2 }) })]));
    const mine = await gql('query { myself { pods { id desiredStatus runtime { uptimeInSeconds } } } }');
    expect((mine.body.data!.myself as { pods: { id: string; runtime: unknown }[] }).pods.find((p) => p.id === pod.id)!.runtime).not.toBeNull();
    expect((await rest('GET', `/pods/${pod.id}`)).body).toMatchObject({ id: pod.id, desiredStatus: 'RUNNING' });

    // stop: SIGTERM to the main process, the pod stays (EXITED) with no container
    expect((await rest('POST', `/pods/${pod.id}/stop`)).status).toBe(200);
    await until(() => readFileSync(join(dir, 'seen.txt'), 'utf8').includes('term'), 'SIGTERM to reach the start command', 30_000);
    const stopped = await until(async () => {
      const r = await gql('query P($id: String!) { pod(input: { podId: $id }) { desiredStatus runtime { uptimeInSeconds } } }', { id: pod.id });
      const p = r.body.data!.pod as { desiredStatus: string; runtime: unknown };
      return p.runtime === null && p;
    }, 'the container to stop', 30_000);
    expect(stopped.desiredStatus).toBe('EXITED');

    const term = await gql('mutation T($id: String!) { podTerminate(input: { podId: $id }) }', { id: pod.id });
    expect(term).toEqual({ status: 200, body: { data: { podTerminate: null } } });
    expect(await rest('GET', `/pods/${pod.id}`)).toEqual({ status: 404, body: { error: `pod ${pod.id} not found`, status: 404 } });
    expect(emu.pods().find((p) => p.id === pod.id)).toMatchObject({ desiredStatus: 'TERMINATED', endedBy: 'stop' });
  });

  it('rents interruptible pods at a bid, lists GPU types with live prices, and answers GraphQL errors as RunPod does', async () => {
    const types = await gql('query G($n: Int!) { gpuTypes { id securePrice communityPrice lowestPrice(input: { gpuCount: $n }) { minimumBidPrice uninterruptablePrice stockStatus } } }', { n: 1 });
    expect((types.body.data!.gpuTypes as unknown[])).toContainEqual({ id: 'NVIDIA GeForce RTX 4090', securePrice: 0.69, communityPrice: 0.34, lowestPrice: { minimumBidPrice: 0.2, uninterruptablePrice: 0.34, stockStatus: 'High' } });

    const RENT = 'mutation R($input: PodRentInterruptableInput!) { podRentInterruptable(input: $input) { id podType costPerHr } }';
    const low = await gql(RENT, deployInput('wire-low', { bidPerGpu: 0.05, gpuCount: 1 }));
    expect(low.status).toBe(200);
    expect(low.body.data).toEqual({ podRentInterruptable: null });
    expect(low.body.errors![0]).toMatchObject({ message: expect.stringMatching(/bid price .* too low/), path: ['podRentInterruptable'] });

    emu.faults.noCapacity({ gpuType: 'NVIDIA GeForce RTX 4090', market: 'interruptible', times: 1 });
    const none = await gql(RENT, deployInput('wire-none', { bidPerGpu: 0.3, gpuCount: 1 }));
    expect(none.body.errors![0]!.message).toBe('There are no longer any instances available with the requested specifications. Please refresh and try again.');
    const rented = await gql(RENT, deployInput('wire-spot', { bidPerGpu: 0.3, gpuCount: 1 }));
    expect(rented.body.data!.podRentInterruptable).toMatchObject({ podType: 'INTERRUPTABLE', costPerHr: 0.3 });

    // an invalid document is HTTP 400, as on any GraphQL server
    const bad = await gql('query { myself { pods { id noSuchField } } }');
    expect(bad).toEqual({ status: 400, body: { errors: [{ message: 'Cannot query field "noSuchField" on type "Pod".' }] } });
    expect((await gql('query { myself { ')).status).toBe(400);
    const unknown = await gql(DEPLOY, deployInput('wire-typo', { gpuTypeId: 'NVIDIA RTX 9999' }));
    expect(unknown.body.errors![0]!.message).toMatch(/Invalid GPU type/);
    expect(emu.pods().some((p) => p.name === 'wire-typo' || p.name === 'wire-none' || p.name === 'wire-low')).toBe(false);
    await rest('DELETE', `/pods/${(rented.body.data!.podRentInterruptable as { id: string }).id}`);
  });

  it('creates, fails and throttles through REST with its error shapes', async () => {
    const made = await rest('POST', '/pods', { name: 'rest-1', imageName: 'runpod/pytorch', gpuTypeIds: ['NVIDIA GeForce RTX 4090'], interruptible: true, env: { A: 'b' }, dockerStartCmd: ['bash', '-c', 'sleep 30'] });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'rest-1', interruptible: true, env: { A: 'b' }, dockerStartCmd: ['bash', '-c', 'sleep 30'], desiredStatus: 'RUNNING' });
    const id = (made.body as { id: string }).id;
    expect((await rest('POST', '/pods', { imageName: 'x' })).body).toEqual({ error: 'gpuTypeIds is required for a GPU pod', status: 400 });

    emu.faults.rateLimit({ api: 'rest', times: 1 });
    const limited = await fetch(`${emu.restUrl}/pods`, { headers: { authorization: `Bearer ${emu.apiKey}` } });
    expect([limited.status, limited.headers.get('retry-after'), await limited.json()]).toEqual([429, '1', { error: 'Too Many Requests', status: 429 }]);
    emu.faults.apiError({ api: 'graphql', status: 502, times: 1 });
    expect((await gql('{ myself { id } }')).status).toBe(502);
    expect((await gql('{ myself { id } }')).status).toBe(200);
    expect((await rest('DELETE', `/pods/${id}`)).status).toBe(204);
    expect((await rest('DELETE', `/pods/${id}`)).status).toBe(404);
  });

  it('a pod-scoped key reaches its own pod only; eviction is SIGTERM then SIGKILL, and the pod stays EXITED', async () => {
    const a = (await gql(DEPLOY, deployInput('scoped-a'))).body.data!.podFindAndDeployOnDemand as { id: string };
    const b = (await gql(DEPLOY, deployInput('scoped-b'))).body.data!.podFindAndDeployOnDemand as { id: string };
    await until(() => emu.pods().filter((p) => p.id === a.id || p.id === b.id).every((p) => existsSync(join(p.dir, 'seen.txt'))), 'both pods to start', 30_000);
    // the key as the pod sees it: RUNPOD_API_KEY in its processes' environment
    const keyOf = async (id: string) => {
      for (const p of readdirSync('/proc')) {
        try {
          const env = readFileSync(`/proc/${p}/environ`, 'latin1').split('\0');
          if (env.includes(`RUNPOD_POD_ID=${id}`)) return env.find((e) => e.startsWith('RUNPOD_API_KEY='))!.slice('RUNPOD_API_KEY='.length);
        } catch { /* gone */ }
      }
      throw new Error(`no process of pod ${id}`);
    };
    const keyA = await keyOf(a.id);
    expect((await rest('GET', '/pods', undefined, keyA)).status).toBe(403);
    expect((await rest('DELETE', `/pods/${b.id}`, undefined, keyA)).status).toBe(403);
    expect((await gql('mutation T($id: String!) { podTerminate(input: { podId: $id }) }', { id: b.id }, keyA)).body.errors![0]!.message).toMatch(/scoped to one pod/);
    expect((await rest('DELETE', `/pods/${a.id}`, undefined, keyA)).status).toBe(204);
    expect(emu.calls.at(-1)).toMatchObject({ api: 'rest', operation: 'DELETE /pods/{id}', podKey: true, status: 204 });

    // eviction with no grace: the start command is killed before it can say anything
    const podB = emu.pods().find((p) => p.id === b.id)!;
    emu.faults.evict(b.id, { graceMs: 0 });
    await until(() => emu.pods().find((p) => p.id === b.id)!.exit, 'the container to die', 30_000);
    expect(readFileSync(join(podB.dir, 'seen.txt'), 'utf8')).not.toContain('term');
    const listed = (await rest('GET', '/pods')).body as { id: string; desiredStatus: string; lastStatusChange: string }[];
    expect(listed.find((p) => p.id === b.id)).toMatchObject({ desiredStatus: 'EXITED', lastStatusChange: expect.stringMatching(/^Exited by RunPod/) });
    expect(emu.pods().find((p) => p.id === b.id)).toMatchObject({ endedBy: 'evict', exit: { signal: 'SIGKILL' } });
    await rest('DELETE', `/pods/${b.id}`);
  });
});

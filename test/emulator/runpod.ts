// A wire-level RunPod emulator for tests and demos (DESIGN §6): the GraphQL API (POST /graphql:
// podFindAndDeployOnDemand, podRentInterruptable, podStop, podTerminate, myself { pods }, pod,
// gpuTypes) and the REST pods API (/v1/pods: list, get, create, stop, delete) on 127.0.0.1, with
// RunPod's error shapes: GraphQL errors are HTTP 200 with `errors` (400 for an invalid document),
// REST errors `{"error", "status"}`, 401 without a valid `Authorization: Bearer` key (GraphQL also
// takes `?api_key=`). Each pod's start command runs as a local process (runpod-world.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { close, listen, readBody } from './http.js';
import { GraphqlError, parseOperation, project, type Resolved, type ResolvedObject, type Value } from './runpod-graphql.js';
import {
  DEFAULT_GPU_TYPES, RunpodWorld, splitCommand, type ApiErrorRule, type EmulatedPod, type GpuTypeSpec, type NoCapacityRule, type PodMarket, type PodRecord,
  type RateLimitRule, type RunpodCall,
} from './runpod-world.js';

export { DEFAULT_GPU_TYPES, splitCommand, type EmulatedPod, type GpuTypeSpec, type RunpodCall } from './runpod-world.js';

export const RUNPOD_EMULATOR_KEY = 'rpa_EMULATORKEY0000000000000000000000000000000000';

export interface RunpodEmulatorOptions {
  /** Root for per-pod dirs (default: a fresh temp dir, removed on stop). */
  dir?: string;
  /** The account's API key (default RUNPOD_EMULATOR_KEY). */
  apiKey?: string;
  /** The GPU type catalog (default DEFAULT_GPU_TYPES). */
  gpuTypes?: GpuTypeSpec[];
  /** Extra env of every pod's start command (the tests pass S3 endpoint + credentials here). */
  podEnv?: Record<string, string>;
  /** From create until the start command runs (default 200). */
  startDelayMs?: number;
  /** Stop: SIGTERM, then SIGKILL after this (default 10000, Docker's default). */
  stopGraceMs?: number;
}

export interface RunpodFaults {
  /** Creates of matching pods fail "There are no longer any instances available…", `times` times (default: until cleared). */
  noCapacity(rule: NoCapacityRule): void;
  /** The next `times` requests (to `api`, or either) fail with HTTP `status` (default 500). */
  apiError(rule: ApiErrorRule): void;
  /** The next `times` requests (to `api`, or either) fail with 429 Too Many Requests. */
  rateLimit(rule: RateLimitRule): void;
  /**
   * Takes an interruptible pod away: SIGTERM to its start command, SIGKILL after graceMs (default
   * 5000; 0 kills at once, so the runner writes nothing), and the pod stays listed EXITED.
   */
  evict(podId: string, opts?: { graceMs?: number }): void;
  /** Drops every rule; evictions under way still happen. */
  clear(): void;
}

export interface RunpodEmulator {
  graphqlUrl: string;
  /** …/v1 */
  restUrl: string;
  apiKey: string;
  /** RUNPOD_API_URL (GraphQL), RUNPOD_REST_URL, RUNPOD_API_KEY: what a CLI process needs. */
  env: { RUNPOD_API_URL: string; RUNPOD_REST_URL: string; RUNPOD_API_KEY: string };
  /** Snapshots of every pod ever created (deleted ones TERMINATED), in creation order. */
  pods(): EmulatedPod[];
  /** Every API request in order. */
  calls: RunpodCall[];
  faults: RunpodFaults;
  /** The extra env of every pod (options.podEnv); changes apply to pods started afterwards. */
  podEnv: Record<string, string>;
  /** Kills every pod's processes, closes the server, removes a temp dir it made. */
  stop(): Promise<void>;
}

export async function startRunpodEmulator(opts: RunpodEmulatorOptions = {}): Promise<RunpodEmulator> {
  const madeDir = opts.dir === undefined ? mkdtempSync(join(tmpdir(), 'trainctl-runpod-')) : undefined;
  const apiKey = opts.apiKey ?? RUNPOD_EMULATOR_KEY;
  const world = new RunpodWorld({
    dir: resolve(opts.dir ?? madeDir!),
    apiKey,
    gpuTypes: opts.gpuTypes ?? DEFAULT_GPU_TYPES,
    podEnv: opts.podEnv ?? {},
    startDelayMs: opts.startDelayMs ?? 200,
    stopGraceMs: opts.stopGraceMs ?? 10_000,
  });
  const server = await listen((req, res) => {
    handle(world, req, res).catch(() => res.destroy());
  });
  const graphqlUrl = `${server.endpoint}/graphql`;
  const restUrl = `${server.endpoint}/v1`;
  let stopping: Promise<void> | undefined;
  return {
    graphqlUrl,
    restUrl,
    apiKey,
    env: { RUNPOD_API_URL: graphqlUrl, RUNPOD_REST_URL: restUrl, RUNPOD_API_KEY: apiKey },
    pods: () => world.pods.map(snapshot),
    calls: world.calls,
    podEnv: world.opts.podEnv,
    faults: {
      noCapacity: (rule) => world.addNoCapacity(rule),
      apiError: (rule) => world.addApiError(rule),
      rateLimit: (rule) => world.addRateLimit(rule),
      evict: (id, o) => world.evict(id, o?.graceMs),
      clear: () => world.clearFaults(),
    },
    stop: () => {
      stopping ??= (async () => {
        try {
          await world.stopAll();
        } finally {
          await close(server.server);
          if (madeDir) rmSync(madeDir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}

function snapshot(p: PodRecord): EmulatedPod {
  const { podKey: _key, mainPid: _pid, up: _up, startedAt: _at, ...rest } = p;
  return { ...rest, env: { ...p.env }, ...(p.exit ? { exit: { ...p.exit } } : {}) };
}

// ---- HTTP

type Who = { kind: 'account' } | { kind: 'pod'; pod: PodRecord };

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
  res.end(text);
}

function bearer(req: IncomingMessage, url: URL, allowQuery: boolean): string | undefined {
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  if (m) return m[1];
  return allowQuery ? url.searchParams.get('api_key') ?? undefined : undefined;
}

async function handle(world: RunpodWorld, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const body = await readBody(req);
  const isGraphql = url.pathname === '/graphql';
  const api = isGraphql ? 'graphql' : 'rest';
  const call: RunpodCall = { api, operation: isGraphql ? 'graphql' : `${req.method} ${url.pathname.replace(/^\/v1/, '').replace(/^\/pods\/[^/]+/, '/pods/{id}')}`, params: {}, status: 200, at: Date.now() };
  world.calls.push(call);
  const answer = (status: number, payload: unknown, headers?: Record<string, string>) => {
    call.status = status;
    const p = payload as { error?: string; message?: string; errors?: { message: string }[] } | undefined;
    const error = p?.error ?? (status >= 400 ? p?.message : undefined) ?? p?.errors?.[0]?.message;
    if (error) call.error = error;
    send(res, status, payload, headers);
  };
  if (!isGraphql && !url.pathname.startsWith('/v1/')) return answer(404, { error: `no route ${req.method} ${url.pathname}`, status: 404 });

  const key = bearer(req, url, isGraphql);
  const podOfKey = key ? world.podOfKey(key) : undefined;
  if (!key || (key !== world.opts.apiKey && !podOfKey)) return answer(401, { message: 'Unauthorized' });
  const who: Who = podOfKey ? { kind: 'pod', pod: podOfKey } : { kind: 'account' };
  if (who.kind === 'pod') call.podKey = true;

  const fault = world.takeHttpFault(api);
  if (fault === 429) return answer(429, isGraphql ? { errors: [{ message: 'Too Many Requests' }] } : { error: 'Too Many Requests', status: 429 }, { 'retry-after': '1' });
  if (fault) return answer(fault, isGraphql ? { errors: [{ message: 'Internal Server Error' }] } : { error: 'Internal Server Error', status: fault });

  if (isGraphql) {
    if (req.method !== 'POST') return answer(405, { errors: [{ message: 'GraphQL only supports POST here' }] });
    let parsed: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      return answer(400, { errors: [{ message: 'POST body sent invalid JSON.' }] });
    }
    const out = executeGraphql(world, who, parsed, call);
    return answer(out.status, out.body);
  }
  const out = executeRest(world, who, req.method ?? 'GET', url, body, call);
  return answer(out.status, out.body);
}

// ---- GraphQL

function podObject(world: RunpodWorld, p: PodRecord): ResolvedObject {
  const type = world.gpuType(p.gpuTypeId);
  return {
    __typename: 'Pod',
    id: p.id, name: p.name, desiredStatus: p.desiredStatus, imageName: p.imageName,
    env: Object.entries(p.env).map(([k, v]) => `${k}=${v}`),
    gpuCount: p.gpuCount, costPerHr: p.costPerHr, podType: p.market === 'interruptible' ? 'INTERRUPTABLE' : 'RESERVED',
    machineId: `m-${p.id}`, lastStatusChange: p.lastStatusChange, dockerArgs: p.dockerArgs, dockerId: null,
    volumeInGb: p.volumeInGb, containerDiskInGb: p.containerDiskInGb, volumeMountPath: p.volumeMountPath,
    memoryInGb: 62, vcpuCount: 16, ports: '', port: null,
    uptimeSeconds: p.up && p.startedAt ? Math.floor((Date.now() - p.startedAt) / 1000) : 0,
    runtime: p.up ? {
      __typename: 'PodRuntime', uptimeInSeconds: p.startedAt ? Math.floor((Date.now() - p.startedAt) / 1000) : 0, ports: [], gpus: [],
    } : null,
    machine: { __typename: 'PodMachineInfo', podHostId: `${p.id}-host`, gpuDisplayName: type?.displayName ?? p.gpuTypeId, gpuTypeId: p.gpuTypeId, location: 'EMULATOR' },
  };
}

function gpuTypeObject(g: GpuTypeSpec): ResolvedObject {
  return {
    __typename: 'GpuType',
    id: g.id, displayName: g.displayName, memoryInGb: g.memoryInGb, maxGpuCount: g.maxGpuCount, manufacturer: 'Nvidia',
    securePrice: g.securePrice, communityPrice: g.communityPrice, secureSpotPrice: g.minimumBidPrice, communitySpotPrice: g.minimumBidPrice,
    secureCloud: true, communityCloud: true,
    lowestPrice: (args) => {
      const input = (args.input ?? {}) as { gpuCount?: number };
      const count = typeof input.gpuCount === 'number' ? input.gpuCount : 1;
      // more GPUs than a machine of the type has: no stock, as RunPod's catalog says
      const out = count > g.maxGpuCount;
      return {
        __typename: 'LowestPrice',
        minimumBidPrice: out ? null : g.minimumBidPrice,
        uninterruptablePrice: out ? null : g.communityPrice,
        stockStatus: out ? null : 'High',
        maxUnreservedGpuCount: g.maxGpuCount,
      };
    },
  };
}

const str = (v: Value | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: Value | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

function envOf(v: Value | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) for (const e of v) if (e && typeof e === 'object' && !Array.isArray(e) && typeof e.key === 'string') out[e.key] = String(e.value ?? '');
  return out;
}

/** A resolver's own error: HTTP 200, `errors` with the field's path, and `data.<field>` null. */
class FieldError extends Error {}

function createFromGraphql(world: RunpodWorld, field: 'podFindAndDeployOnDemand' | 'podRentInterruptable', input: Record<string, Value>): PodRecord {
  const imageName = str(input.imageName);
  const gpuTypeId = str(input.gpuTypeId);
  if (!imageName) throw new FieldError('imageName is required');
  if (!gpuTypeId) throw new FieldError('gpuTypeId is required');
  const market: PodMarket = field === 'podRentInterruptable' ? 'interruptible' : 'on-demand';
  const bid = input.bidPerGpu;
  if (market === 'interruptible' && typeof bid !== 'number') throw new GraphqlError('Field "PodRentInterruptableInput.bidPerGpu" of required type "Float!" was not provided.');
  const cloudType = str(input.cloudType) ?? 'ALL';
  if (!['ALL', 'SECURE', 'COMMUNITY'].includes(cloudType)) throw new GraphqlError(`Value "${cloudType}" does not exist in "CloudTypeEnum" enum.`);
  try {
    return world.create({
      name: str(input.name) ?? imageName.split(':')[0]!, imageName, gpuTypeId, gpuCount: int(input.gpuCount) ?? 1, cloudType, market,
      ...(typeof bid === 'number' ? { bidPerGpu: bid } : {}),
      env: envOf(input.env), dockerArgs: str(input.dockerArgs) ?? '', volumeInGb: int(input.volumeInGb) ?? 0,
      containerDiskInGb: int(input.containerDiskInGb) ?? 20, volumeMountPath: str(input.volumeMountPath) ?? '/workspace', createdWith: field,
    });
  } catch (err) {
    throw new FieldError((err as Error).message);
  }
}

function executeGraphql(world: RunpodWorld, who: Who, body: { query?: unknown; variables?: unknown; operationName?: unknown }, call: RunpodCall): { status: number; body: unknown } {
  if (typeof body.query !== 'string') return { status: 400, body: { errors: [{ message: 'Must provide query string.' }] } };
  let op;
  try {
    op = parseOperation(body.query, (body.variables ?? {}) as Record<string, unknown>, typeof body.operationName === 'string' ? body.operationName : undefined);
  } catch (err) {
    return { status: 400, body: { errors: [{ message: (err as Error).message }] } };
  }
  call.operation = op.selections.map((f) => f.name).join(',');
  call.params = Object.fromEntries(op.selections.map((f) => [f.name, f.args]));
  const ownPod = (podId: string | undefined): PodRecord | undefined => {
    const pod = podId ? world.byId.get(podId) : undefined;
    if (!pod || pod.desiredStatus === 'TERMINATED') return undefined;
    return pod;
  };
  const forbidden = (podId: string | undefined) => who.kind === 'pod' && who.pod.id !== podId;
  const data: Record<string, Value> = {};
  const errors: { message: string; path: string[]; extensions?: Record<string, string> }[] = [];
  try {
    for (const f of op.selections) {
      let resolved: Resolved;
      try {
        const input = (f.args.input ?? {}) as Record<string, Value>;
        const podId = str(input.podId);
        if (who.kind === 'pod' && !['pod', 'podStop', 'podTerminate'].includes(f.name)) throw new FieldError('This API key is scoped to one pod and cannot do that.');
        if (op.kind === 'query') {
          if (f.name === 'myself') resolved = { __typename: 'User', id: 'user-emulator', email: 'emulator@example.com', pods: world.listed().map((p) => podObject(world, p)) };
          else if (f.name === 'pod') resolved = forbidden(podId) ? null : (ownPod(podId) ? podObject(world, ownPod(podId)!) : null);
          else if (f.name === 'gpuTypes') {
            const only = str(input.id);
            resolved = world.opts.gpuTypes.filter((g) => !only || g.id === only).map(gpuTypeObject);
          } else throw new GraphqlError(`Cannot query field "${f.name}" on type "Query".`);
        } else if (f.name === 'podFindAndDeployOnDemand' || f.name === 'podRentInterruptable') {
          resolved = podObject(world, createFromGraphql(world, f.name, input));
        } else if (f.name === 'podStop' || f.name === 'podTerminate') {
          if (forbidden(podId)) throw new FieldError('This API key is scoped to one pod and cannot do that.');
          const pod = ownPod(podId);
          if (!pod) throw new FieldError(`Pod ${podId ?? ''} not found`);
          if (f.name === 'podStop') {
            world.stop(pod);
            resolved = podObject(world, pod);
          } else {
            world.remove(pod);
            resolved = null;
          }
        } else throw new GraphqlError(`Cannot query field "${f.name}" on type "Mutation".`);
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
        errors.push({ message: err.message, path: [f.alias] });
        data[f.alias] = null;
        continue;
      }
      data[f.alias] = f.name === 'podTerminate' ? null : project(resolved, f.selections, f.alias);
    }
  } catch (err) {
    if (err instanceof GraphqlError) return { status: err.status, body: { errors: [{ message: err.message }] } };
    throw err;
  }
  return { status: 200, body: errors.length ? { errors, data } : { data } };
}

// ---- REST

function restPod(world: RunpodWorld, p: PodRecord): Record<string, unknown> {
  const type = world.gpuType(p.gpuTypeId);
  return {
    id: p.id, name: p.name, desiredStatus: p.desiredStatus, image: p.imageName, imageName: p.imageName,
    env: { ...p.env }, interruptible: p.market === 'interruptible', costPerHr: p.costPerHr, adjustedCostPerHr: p.costPerHr,
    gpu: { id: p.gpuTypeId, count: p.gpuCount, displayName: type?.displayName ?? p.gpuTypeId },
    machineId: `m-${p.id}`, machine: { gpuTypeId: p.gpuTypeId, location: 'EMULATOR' },
    lastStartedAt: p.lastStartedAt, lastStatusChange: p.lastStatusChange, dockerStartCmd: p.dockerArgs ? splitCommand(p.dockerArgs) : [],
    volumeInGb: p.volumeInGb, containerDiskInGb: p.containerDiskInGb, volumeMountPath: p.volumeMountPath, memoryInGb: 62, vcpuCount: 16,
    ports: [], portMappings: {}, publicIp: null,
  };
}

function executeRest(world: RunpodWorld, who: Who, method: string, url: URL, body: string, call: RunpodCall): { status: number; body: unknown } {
  const err = (status: number, error: string) => ({ status, body: { error, status } });
  const path = url.pathname.replace(/^\/v1/, '');
  const m = /^\/pods(?:\/([^/]+))?(?:\/(stop))?$/.exec(path);
  if (!m) return err(404, `no route ${method} ${url.pathname}`);
  const podId = m[1] ? decodeURIComponent(m[1]) : undefined;
  const action = m[2];
  if (podId) call.params.podId = podId;
  if (who.kind === 'pod' && who.pod.id !== podId) return { status: 403, body: { error: 'This API key is scoped to one pod and cannot do that.', status: 403 } };
  if (!podId) {
    if (method === 'GET') {
      const name = url.searchParams.get('name');
      const status = url.searchParams.get('desiredStatus');
      return { status: 200, body: world.listed().filter((p) => (!name || p.name === name) && (!status || p.desiredStatus === status)).map((p) => restPod(world, p)) };
    }
    if (method === 'POST') {
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body || '{}') as Record<string, unknown>;
      } catch {
        return err(400, 'invalid JSON body');
      }
      call.params = input;
      if (typeof input.imageName !== 'string' || !input.imageName) return err(400, 'imageName is required');
      const types = Array.isArray(input.gpuTypeIds) ? input.gpuTypeIds.filter((t): t is string => typeof t === 'string') : [];
      if (types.length === 0) return err(400, 'gpuTypeIds is required for a GPU pod');
      const market: PodMarket = input.interruptible === true ? 'interruptible' : 'on-demand';
      let last = '';
      // gpuTypePriority availability: the first type that has a machine
      for (const t of types) {
        try {
          const type = world.gpuType(t);
          const pod = world.create({
            name: typeof input.name === 'string' ? input.name : 'my pod', imageName: input.imageName, gpuTypeId: t,
            gpuCount: typeof input.gpuCount === 'number' ? input.gpuCount : 1, cloudType: typeof input.cloudType === 'string' ? input.cloudType : 'SECURE', market,
            // REST rents interruptible pods at the going rate
            ...(market === 'interruptible' && type ? { bidPerGpu: type.minimumBidPrice } : {}),
            env: Object.fromEntries(Object.entries((input.env ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)])),
            dockerArgs: Array.isArray(input.dockerStartCmd) ? (input.dockerStartCmd as unknown[]).map((a) => `'${String(a).replace(/'/g, "'\\''")}'`).join(' ') : '',
            volumeInGb: typeof input.volumeInGb === 'number' ? input.volumeInGb : 20, containerDiskInGb: typeof input.containerDiskInGb === 'number' ? input.containerDiskInGb : 50,
            volumeMountPath: typeof input.volumeMountPath === 'string' ? input.volumeMountPath : '/workspace', createdWith: 'rest',
          });
          return { status: 201, body: restPod(world, pod) };
        } catch (e) {
          last = (e as Error).message;
        }
      }
      return err(400, `create pod: ${last}`);
    }
    return err(405, `method ${method} not allowed on /pods`);
  }
  const pod = world.byId.get(podId);
  if (!pod || pod.desiredStatus === 'TERMINATED') return err(404, `pod ${podId} not found`);
  if (action === 'stop') {
    if (method !== 'POST') return err(405, `method ${method} not allowed on /pods/{podId}/stop`);
    world.stop(pod);
    return { status: 200, body: restPod(world, pod) };
  }
  if (method === 'GET') return { status: 200, body: restPod(world, pod) };
  if (method === 'DELETE') {
    world.remove(pod);
    return { status: 204, body: undefined };
  }
  return err(405, `method ${method} not allowed on /pods/{podId}`);
}

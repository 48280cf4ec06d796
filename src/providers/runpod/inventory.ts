// The RunPod reads and the one write behind `trainctl resources`: every pod of the account
// (managed or not) as inventory, priced at what RunPod bills it now, and a delete that re-reads
// each pod's labels right before deleting it, so no pod without TRAINCTL_MANAGED=true is ever
// deleted. Everything here is skipped when no RunPod key is configured.
import type { InventoryInstance } from '../../core/insights.js';
import { kindOf, RunpodApi, runpodConfig, userFacing } from './clients.js';
import { deletePods, listPods } from './launch.js';
import { identityOf, isManaged, launchedAt, type PodDescription } from './model.js';

/** The `region` a pod is listed under. */
export const RUNPOD_REGION = 'runpod';

/** Whether a RunPod key is configured (RUNPOD_API_KEY or ~/.runpod/config.toml): `resources` looks at pods only then. */
export function runpodConfigured(env: NodeJS.ProcessEnv): boolean {
  return runpodConfig(env).apiKey !== undefined;
}

/** A pod as `resources` sees it: RUNNING is `running`; EXITED (stopped, billing its volume only) is `stopped`. */
export function podInventory(p: PodDescription): InventoryInstance {
  const managed = isManaged(p);
  const id = managed ? identityOf(p) : undefined;
  return {
    id: p.id,
    region: RUNPOD_REGION,
    provider: 'runpod',
    state: p.desiredStatus === 'RUNNING' ? 'running' : p.desiredStatus === 'EXITED' ? 'stopped' : p.desiredStatus.toLowerCase(),
    instanceType: `${p.gpuCount}x ${p.gpuTypeId ?? 'GPU'}`,
    market: p.interruptible ? 'spot' : 'on-demand',
    launchedAt: launchedAt(p),
    ...(p.name ? { name: p.name } : {}),
    managed,
    ...(id ? {
      project: id.project, ...(id.job ? { job: id.job } : {}), trial: id.trial, ...(id.specHash ? { specHash: id.specHash } : {}), rank: id.rank, attempt: id.attempt,
    } : {}),
    ...(p.costPerHr !== undefined && p.costPerHr > 0 ? { price: { usdPerHour: p.costPerHr, source: 'live' as const } } : {}),
  };
}

/** Every listed pod (managed only, or all), as inventory; none when no key is configured. */
export async function scanPods(env: NodeJS.ProcessEnv, opts: { managedOnly: boolean }): Promise<InventoryInstance[]> {
  if (!runpodConfigured(env)) return [];
  const pods = await listPods(new RunpodApi(env));
  return pods.filter((p) => !opts.managedOnly || isManaged(p)).map(podInventory);
}

export interface DeleteOutcome {
  terminated: string[];
  skipped: { id: string; why: string }[];
}

/**
 * Deletes those of `ids` that carry TRAINCTL_MANAGED=true at this moment: the pods are listed
 * again right before the deletes, and a pod whose label is gone (or never was) is left alone.
 */
export async function deleteManagedPods(env: NodeJS.ProcessEnv, ids: readonly string[]): Promise<DeleteOutcome> {
  const api = new RunpodApi(env);
  const byId = new Map((await listPods(api)).map((p) => [p.id, p]));
  const out: DeleteOutcome = { terminated: [], skipped: [] };
  const doomed: string[] = [];
  for (const id of ids) {
    const p = byId.get(id);
    if (!p) out.skipped.push({ id, why: 'not found' });
    else if (!isManaged(p)) out.skipped.push({ id, why: 'no TRAINCTL_MANAGED=true label: never deleted by trainctl' });
    else doomed.push(id);
  }
  try {
    await deletePods(api, doomed);
  } catch (err) {
    if (kindOf(err) !== 'not-found') throw userFacing(err, 'deleting RunPod pods');
  }
  out.terminated.push(...doomed);
  return out;
}

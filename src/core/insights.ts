// `trainctl resources`, pure: what each cloud instance costs so far, spend rolled up by project,
// job, region and state, and which instances need attention (zombies, orphans, idle GPUs,
// untagged machines that look like training). No I/O; the clock is passed in.
import { formatDuration } from './duration.js';
import type { AttemptState, TrialRecord } from './observed.js';

/** One instance as read from the cloud, parsed once at the boundary (providers/aws/inventory.ts). */
export interface InventoryInstance {
  id: string;
  /** The AWS region; `runpod` for a RunPod pod. */
  region: string;
  /** Absent: aws. A RunPod pod (providers/runpod/inventory.ts) always has GPUs. */
  provider?: 'aws' | 'runpod';
  az?: string;
  /** EC2's state name: pending, running, shutting-down, stopping, stopped. */
  state: string;
  instanceType: string;
  market: 'spot' | 'on-demand';
  /** ISO time. */
  launchedAt: string;
  /** The Name tag. */
  name?: string;
  /** Carries trainctl:managed=true: the only instances trainctl ever terminates. */
  managed: boolean;
  /** From the trainctl tags (absent when a tag is missing or malformed). */
  project?: string;
  job?: string;
  trial?: string;
  specHash?: string;
  rank?: number;
  attempt?: number;
  /** USD per hour and where that figure came from; absent when unknown. */
  price?: HourlyPrice;
}

export interface HourlyPrice {
  usdPerHour: number;
  /** `user`: the user's prices.json; `spot-live`: DescribeSpotPriceHistory now; `table`: the built-in list prices; `live`: what the provider bills it at now (a pod's costPerHr). */
  source: 'user' | 'spot-live' | 'table' | 'live';
}

/** States that bill compute time. */
const BILLED = new Set(['pending', 'running', 'shutting-down', 'stopping']);
/** States worth judging: an instance already going is no zombie. */
const LIVE = new Set(['pending', 'running']);

export interface InventoryRow extends InventoryInstance {
  ageMs: number;
  /** price × hours since launch; null when the price is unknown or the instance is stopped. */
  spendUSD: number | null;
}

export function inventoryRow(i: InventoryInstance, now: Date): InventoryRow {
  const ageMs = Math.max(0, now.getTime() - Date.parse(i.launchedAt));
  const spendUSD = i.price && BILLED.has(i.state) ? round((i.price.usdPerHour * ageMs) / 3_600_000) : null;
  return { ...i, ageMs, spendUSD };
}

/** Oldest first, then by id, so listings are stable. */
export function inventoryRows(instances: readonly InventoryInstance[], now: Date): InventoryRow[] {
  return instances.map((i) => inventoryRow(i, now)).sort((a, b) => b.ageMs - a.ageMs || a.id.localeCompare(b.id));
}

// ---- summary

export interface SpendGroup {
  key: string;
  instances: number;
  running: number;
  /** Hourly burn of its billed instances with a known price. */
  hourlyUSD: number;
  spendUSD: number;
  /** Instances whose price is unknown (not in hourlyUSD or spendUSD). */
  unpriced: number;
}

export interface InventorySummary {
  total: SpendGroup;
  byProject: SpendGroup[];
  byJob: SpendGroup[];
  byRegion: SpendGroup[];
  byState: SpendGroup[];
}

export function summarize(rows: readonly InventoryRow[]): InventorySummary {
  const group = (keyOf: (r: InventoryRow) => string): SpendGroup[] => {
    const m = new Map<string, SpendGroup>();
    for (const r of rows) {
      const key = keyOf(r);
      const g = m.get(key) ?? { key, instances: 0, running: 0, hourlyUSD: 0, spendUSD: 0, unpriced: 0 };
      add(g, r);
      m.set(key, g);
    }
    return [...m.values()].map(rounded).sort((a, b) => b.spendUSD - a.spendUSD || a.key.localeCompare(b.key));
  };
  const total: SpendGroup = { key: 'total', instances: 0, running: 0, hourlyUSD: 0, spendUSD: 0, unpriced: 0 };
  for (const r of rows) add(total, r);
  return {
    total: rounded(total),
    byProject: group((r) => r.project ?? '-'),
    byJob: group((r) => `${r.project ?? '-'}/${r.job ?? '-'}`),
    byRegion: group((r) => r.region),
    byState: group((r) => r.state),
  };
}

function add(g: SpendGroup, r: InventoryRow): void {
  g.instances++;
  if (r.state === 'running') g.running++;
  if (!r.price) g.unpriced++;
  else if (BILLED.has(r.state)) g.hourlyUSD += r.price.usdPerHour;
  g.spendUSD += r.spendUSD ?? 0;
}

const round = (usd: number): number => Math.round(usd * 10_000) / 10_000;
const rounded = (g: SpendGroup): SpendGroup => ({ ...g, hourlyUSD: round(g.hourlyUSD), spendUSD: round(g.spendUSD) });

// ---- insights

export type FindingKind = 'zombie' | 'orphan' | 'idle-gpu' | 'untagged-training';

export type FindingReason =
  /** zombie: running longer than maxAge */
  | 'running-too-long'
  /** zombie: the trial's latest heartbeat (or the launch, if later) is older than heartbeatTimeout */
  | 'no-heartbeat'
  /** orphan: the trial is in no given spec and no store holds a record of it */
  | 'unknown-trial'
  /** idle-gpu: the trial has ended in the store, the GPU instance still runs */
  | 'trial-ended'
  /** untagged-training: no managed tag, a GPU instance type */
  | 'gpu-type'
  /** untagged-training: no managed tag, a Name that says train */
  | 'name-says-train';

export interface Finding {
  kind: FindingKind;
  reason: FindingReason;
  instance: string;
  region: string;
  instanceType: string;
  project?: string;
  job?: string;
  trial?: string;
  why: string;
  action: string;
  /** `resources cleanup --force` terminates it (zombies and orphans; always a managed instance). */
  cleanup: boolean;
}

/** What the given specs and their stores say about trials. Keys are `project/job/trial`, `project/job`. */
export interface TrialKnowledge {
  /** Projects named by a given spec: only their instances are judged for orphans (as `plan --prune`). */
  projects: ReadonlySet<string>;
  /** project/job pairs with a given spec: the heartbeats of their trials are known. */
  jobs: ReadonlySet<string>;
  /** Trials the given specs want. */
  trials: ReadonlySet<string>;
  /** Records in the given stores (each job's own store). */
  records: ReadonlyMap<string, TrialRecord>;
}

export interface InsightOptions {
  now: Date;
  /** Default 24 h. */
  maxAgeMs?: number;
  /** Default 15 min. */
  heartbeatTimeoutMs?: number;
}

export interface Insights {
  findings: Finding[];
  /** What could not be judged, and why (e.g. heartbeat unknown without a spec). */
  notes: string[];
}

export const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 15 * 60_000;

/** Whether an EC2 instance type has GPUs, by family (g*, p*): the same rule as the aws provider's. */
export function isGpuInstanceType(instanceType: string): boolean {
  return /^(p|g)\d/.test(instanceType);
}

const ENDED: ReadonlySet<AttemptState> = new Set(['succeeded', 'failed', 'stopped', 'early-stopped', 'interrupted']);
const KIND_ORDER: FindingKind[] = ['zombie', 'orphan', 'idle-gpu', 'untagged-training'];
const CLEANUP_HINT = 'terminate with `trainctl resources cleanup --force`';

export const trialKey = (project: string, job: string, trial: string): string => `${project}/${job}/${trial}`;

export function classifyInstances(instances: readonly InventoryInstance[], know: TrialKnowledge, opts: InsightOptions): Insights {
  const now = opts.now.getTime();
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const heartbeatMs = opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  const findings: Finding[] = [];
  const noHeartbeat = new Set<string>();
  const unjudged = new Set<string>();
  const order = [...instances].sort((a, b) => Date.parse(a.launchedAt) - Date.parse(b.launchedAt) || a.id.localeCompare(b.id));

  for (const i of order) {
    if (!LIVE.has(i.state)) continue;
    const base = { instance: i.id, region: i.region, instanceType: i.instanceType };
    if (!i.managed) {
      const gpu = i.provider === 'runpod' || isGpuInstanceType(i.instanceType);
      if (gpu || /train/i.test(i.name ?? '')) {
        findings.push({
          ...base, kind: 'untagged-training', reason: gpu ? 'gpu-type' : 'name-says-train',
          why: `no trainctl:managed tag, ${gpu ? `GPU type ${i.instanceType}` : `named "${i.name}"`}${i.name && gpu ? ` ("${i.name}")` : ''}, ${i.state} for ${formatDuration(now - Date.parse(i.launchedAt))}`,
          action: 'check it by hand: trainctl never stops or terminates an instance it did not tag',
          cleanup: false,
        });
      }
      continue;
    }
    const who = { ...(i.project ? { project: i.project } : {}), ...(i.job ? { job: i.job } : {}), ...(i.trial ? { trial: i.trial } : {}) };
    const ageMs = now - Date.parse(i.launchedAt);
    const identified = i.project !== undefined && i.job !== undefined && i.trial !== undefined;
    const key = identified ? trialKey(i.project!, i.job!, i.trial!) : undefined;
    const record = key ? know.records.get(key) : undefined;
    const jobKnown = identified && know.jobs.has(`${i.project}/${i.job}`);

    // zombie: silence is the stronger evidence, so it is the reason given when both hold
    let zombie: Pick<Finding, 'reason' | 'why'> | undefined;
    if (jobKnown) {
      const beat = latestHeartbeat(record);
      const since = Math.max(beat ?? -Infinity, Date.parse(i.launchedAt));
      if (i.state === 'running' && now - since > heartbeatMs) {
        zombie = {
          reason: 'no-heartbeat',
          why: beat !== undefined && beat >= Date.parse(i.launchedAt)
            ? `no heartbeat for ${formatDuration(now - beat)} (last ${new Date(beat).toISOString()}; limit ${formatDuration(heartbeatMs)})`
            : `no heartbeat since it launched ${formatDuration(ageMs)} ago (limit ${formatDuration(heartbeatMs)})`,
        };
      }
    } else {
      noHeartbeat.add(identified ? `${i.project}/${i.job}` : i.id);
    }
    if (!zombie && ageMs > maxAgeMs) {
      zombie = { reason: 'running-too-long', why: `${i.state} for ${formatDuration(ageMs)} (limit ${formatDuration(maxAgeMs)})${jobKnown ? '' : '; heartbeat unknown'}` };
    }
    if (zombie) findings.push({ ...base, ...who, kind: 'zombie', ...zombie, action: CLEANUP_HINT, cleanup: true });

    if (identified && know.projects.has(i.project!)) {
      if (!know.trials.has(key!) && !record) {
        findings.push({
          ...base, ...who, kind: 'orphan', reason: 'unknown-trial',
          why: `trial ${i.trial} is in no given spec of project ${i.project} and no store has a record of it`,
          action: `${CLEANUP_HINT}, or \`trainctl apply --prune\``,
          cleanup: true,
        });
      }
    } else if (identified) {
      unjudged.add(i.project!);
    }

    if ((i.provider === 'runpod' || isGpuInstanceType(i.instanceType)) && i.state === 'running' && record) {
      const ended = endedAt(record, i);
      if (ended) {
        findings.push({
          ...base, ...who, kind: 'idle-gpu', reason: 'trial-ended',
          why: `trial ${i.trial} ended (${ended.state}) ${formatDuration(now - ended.at)} ago; the GPU instance still runs`,
          action: `terminate with \`trainctl resources cleanup ${i.id} --force\``,
          cleanup: false,
        });
      }
    }
  }

  findings.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  const notes: string[] = [];
  if (noHeartbeat.size) notes.push(`heartbeat unknown for ${[...noHeartbeat].sort().join(', ')}: no spec given for ${noHeartbeat.size === 1 ? 'it' : 'them'} (pass -f <spec> to read its run store)`);
  if (unjudged.size) notes.push(`orphans not judged in project${unjudged.size === 1 ? '' : 's'} ${[...unjudged].sort().join(', ')}: no spec given (pass -f with every spec of a project)`);
  return { findings, notes };
}

/** The latest heartbeat of a trial: its latest attempt's updatedAt. */
function latestHeartbeat(record: TrialRecord | undefined): number | undefined {
  const last = record?.attempts.at(-1);
  const t = last ? Date.parse(last.updatedAt) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

/** When and how the instance's trial ended for this instance: its attempt ended, or the trial did with its spec. */
function endedAt(record: TrialRecord, i: InventoryInstance): { state: string; at: number } | undefined {
  const attempt = record.attempts.find((a) => a.n === i.attempt);
  if (attempt && ENDED.has(attempt.state)) return { state: attempt.state, at: Date.parse(attempt.updatedAt) };
  const later = record.attempts.some((a) => i.attempt !== undefined && a.n > i.attempt);
  if (record.result && !later && (!i.specHash || record.result.specHash === i.specHash)) return { state: record.result.state, at: Date.parse(record.result.finishedAt) };
  return undefined;
}

// The provider contract (DESIGN §6). A provider provisions machines and starts the runner on
// them; everything about training happens in the runner. Cloud SDK imports live only in
// providers/<name>/. Capability differences are separate interfaces, not `if provider == …`.
import type { GoneResource, ObservedResource, ProviderName } from '../core/observed.js';
import type { RunnerTask } from '../runner/task.js';
import type { ResolvedCompute } from '../spec/types.js';

/** Hourly price of one node, with where the figure came from. */
export interface PriceQuote {
  usdPerHour: number;
  /** `user`: the user's prices.json (providers/price-file.ts). */
  source: 'table' | 'user' | 'live' | 'free';
  asOf: string;
}

/** The read side every provider has: observation never changes anything. */
export interface ProviderObserver {
  readonly name: ProviderName;
  /**
   * Every resource tagged `trainctl:managed=true` for the project that is pending or running.
   * Resources without the managed tag are never returned, so they are never stopped or deleted.
   */
  observe(project: string): Promise<ObservedResource[]>;
  /** Price of one node of this compute, or undefined when unknown. */
  price(compute: ResolvedCompute): Promise<PriceQuote | undefined>;
}

/** Who a cloud node is: what its tags (aws) or labels (runpod) say, and what its idempotency key is made of. */
export interface NodeIdentity {
  project: string;
  job: string;
  trial: string;
  specHash: string;
  attempt: number;
  rank: number;
}

/** The part of a node's RunnerTask that is the same on every node and every provider. */
export type NodeTask = Omit<RunnerTask, 'nodeRank' | 'workDir' | 'distributed' | 'gpus' | 'pricePerHour'>;

export interface LaunchRequest {
  project: string;
  job: string;
  trial: string;
  specHash: string;
  attempt: number;
  nodes: number;
  compute: ResolvedCompute;
  /** Absolute path of the code directory each node gets a copy of. */
  codeDir: string;
  /** The provider resolves `auto` (it knows whether the nodes have GPUs) and picks a free port. */
  distributed: { backend: 'auto' | 'nccl' | 'gloo'; masterPort?: number };
  task: NodeTask;
  /** Spot interruptions of the trial so far (this spec); with `fallbackToOnDemandAfter`, spot-with-fallback goes on-demand. */
  interruptions?: number;
  /** retry.fallbackToOnDemandAfter */
  fallbackToOnDemandAfter?: number;
}

/**
 * What a launch came to. Running out of capacity is an expected outcome, not an error: the trial
 * waits and a later pass launches it.
 */
export type LaunchOutcome =
  | { kind: 'launched'; resources: ObservedResource[] }
  /** `permanent`: waiting cannot help (the request exceeds what the provider could ever offer). */
  | { kind: 'no-capacity'; message: string; permanent?: boolean };

/**
 * The write side: idempotent per (trial, attempt, rank), so a re-run apply never launches twice.
 * `launch` starts every node rank of one attempt and returns the live resources (those it found
 * already live included). `terminate` stops the given resources gracefully (SIGTERM or the cloud's
 * equivalent, so the runner saves a final checkpoint), waits for them, and forgets them; ids it
 * does not know are already gone.
 */
export interface ProviderLauncher {
  launch(req: LaunchRequest): Promise<LaunchOutcome>;
  terminate(ids: readonly string[]): Promise<void>;
}

/**
 * Drift: a provider that can tell which of the project's managed nodes are gone without trainctl
 * stopping them (a killed process, a terminated instance), for as long as it still knows of them.
 */
export interface ProviderGoneObserver {
  observeGone(project: string): Promise<GoneResource[]>;
}

export type Provider = ProviderObserver & Partial<ProviderLauncher> & Partial<ProviderGoneObserver>;

// The provider contract (DESIGN §6). A provider provisions machines and starts the runner on
// them; everything about training happens in the runner. Cloud SDK imports live only in
// providers/<name>/. Capability differences are separate interfaces, not `if provider == …`.
import type { ObservedResource, ProviderName } from '../core/observed.js';
import type { ResolvedCompute } from '../spec/types.js';

/** Hourly price of one node, with where the figure came from. */
export interface PriceQuote {
  usdPerHour: number;
  source: 'table' | 'live' | 'free';
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

export interface LaunchRequest {
  project: string;
  job: string;
  trial: string;
  specHash: string;
  attempt: number;
  nodes: number;
  compute: ResolvedCompute;
}

/** The write side: idempotent per (trial, attempt, rank), so a re-run apply never launches twice. */
export interface ProviderLauncher {
  launch(req: LaunchRequest): Promise<ObservedResource[]>;
  terminate(ids: readonly string[]): Promise<void>;
}

export type Provider = ProviderObserver & Partial<ProviderLauncher>;

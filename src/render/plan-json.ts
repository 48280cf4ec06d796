// The machine view of a plan (documented in the README, "Plan JSON"). formatVersion changes
// only when a field changes meaning or disappears; new fields may be added.
import type { Plan } from '../core/plan.js';

export interface PlanJson extends Plan {
  inputs: string[];
  desiredDigest: string;
}

export function planJson(plan: Plan, extra: { inputs: string[]; desiredDigest: string }): PlanJson {
  const { formatVersion, createdAt, options, summary, jobs, warnings, actions, observedDigest } = plan;
  return { formatVersion, createdAt, inputs: extra.inputs, options, summary, jobs, warnings, actions, observedDigest, desiredDigest: extra.desiredDigest };
}

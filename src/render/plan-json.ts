// The machine view of a plan (documented in the README, "Plan JSON"). formatVersion changes
// only when a field changes meaning or disappears; new fields may be added.
import type { Action, Plan } from '../core/plan.js';

export interface PlanJson extends Plan {
  inputs: string[];
  desiredDigest: string;
}

/** kind and reason first: the fields a reader looks for. */
function actionJson(a: Action): Action {
  const { kind, reason, project, job, trial, parameters, specHash, ...rest } = a;
  return { kind, reason, project, job, trial, parameters, specHash, ...rest };
}

export function planJson(plan: Plan, extra: { inputs: string[]; desiredDigest: string }): PlanJson {
  const { formatVersion, createdAt, options, summary, jobs, warnings, actions, observedDigest } = plan;
  return {
    formatVersion, createdAt, inputs: extra.inputs, options, summary, jobs, warnings,
    actions: actions.map(actionJson), observedDigest, desiredDigest: extra.desiredDigest,
  };
}

// Drift on aws: the project's managed instances that were terminated, which EC2 keeps listing for
// about an hour. Whether one is drift (its attempt never ended) is the planner's call.
import type { GoneResource } from '../../core/observed.js';
import { tagsOf, TAG, type InstanceDescription } from './model.js';

/** What a terminated instance's description adds: who ended it. */
export type TerminatedDescription = InstanceDescription & { StateReason?: { Message?: string }; StateTransitionReason?: string };

/** A terminated managed instance as a gone node; undefined when its tags name no trial node. */
export function toGone(i: TerminatedDescription): GoneResource | undefined {
  const tags = tagsOf(i);
  if (tags[TAG.managed] !== 'true' || !i.InstanceId || i.State?.Name !== 'terminated') return undefined;
  const rank = Number(tags[TAG.nodeRank]);
  const attempt = Number(tags[TAG.attempt] ?? '1');
  if (!tags[TAG.project] || !tags[TAG.trial] || !Number.isInteger(rank) || !Number.isInteger(attempt)) return undefined;
  // StateReason says who ended it (Client.UserInitiatedShutdown, Server.SpotInstanceTermination…)
  const why = i.StateReason?.Message || i.StateTransitionReason || '';
  return {
    provider: 'aws', id: i.InstanceId, project: tags[TAG.project]!, job: tags[TAG.job] ?? '', trial: tags[TAG.trial]!,
    specHash: tags[TAG.specHash] ?? '', nodeRank: rank, attempt,
    detail: `instance ${i.InstanceId} terminated${why ? `: ${why}` : ''}`,
  };
}

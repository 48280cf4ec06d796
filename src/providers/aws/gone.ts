// Drift on aws: the project's managed instances that were terminated, which EC2 keeps listing for
// about an hour. Whether one is drift (its attempt never ended) is the planner's call.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { ExitError } from '../../core/errors.js';
import type { GoneResource } from '../../core/observed.js';
import { userFacing, type AwsClientPool } from './clients.js';
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

/** The project's terminated managed instances in these regions, one paged scan per region. */
export async function goneInstances(pool: AwsClientPool, regions: readonly string[], project: string): Promise<GoneResource[]> {
  const out: GoneResource[] = [];
  for (const region of regions) {
    const c = pool.for(region);
    let NextToken: string | undefined;
    try {
      do {
        const page = await c.ec2.send(new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${TAG.managed}`, Values: ['true'] },
            { Name: `tag:${TAG.project}`, Values: [project] },
            { Name: 'instance-state-name', Values: ['terminated'] },
          ],
          MaxResults: 1000, NextToken,
        }));
        for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) {
          const g = toGone(i);
          if (g) out.push(g);
        }
        NextToken = page.NextToken || undefined;
      } while (NextToken);
    } catch (err) {
      const e = userFacing(err, `DescribeInstances in ${c.region}`);
      if (e instanceof ExitError) throw e;
      throw new ExitError(`cannot list terminated instances in ${c.region}: ${(err as Error).message}`, 1, 'check your AWS credentials, region and network');
    }
  }
  return out;
}

// The local provider: each node is a detached runner process on this machine, known by a node
// record under $TRAINCTL_HOME/local/nodes. A record is live only while its pid runs with the same
// process start time (so a reused pid is never mistaken for a node), or, before the runner has
// reported its pid, for a short while after the launcher claimed it.
import type { ObservedResource } from '../../core/observed.js';
import type { LaunchOutcome, LaunchRequest, PriceQuote, ProviderLauncher, ProviderObserver } from '../provider.js';
import { launchLocal, terminateLocal } from './launch.js';
import { listNodeRecords, liveness, toResource } from './nodes.js';

export { nodesDir, processStartTime, type LocalNodeRecord } from './nodes.js';

export class LocalProvider implements ProviderObserver, ProviderLauncher {
  readonly name = 'local' as const;
  constructor(private readonly home: string, private readonly env: NodeJS.ProcessEnv = process.env) {}

  async observe(project: string): Promise<ObservedResource[]> {
    const now = Date.now();
    const out: ObservedResource[] = [];
    for (const { rec } of listNodeRecords(this.home)) {
      if (rec.project !== project) continue;
      const state = liveness(rec, now);
      if (state === 'gone') continue;
      out.push(toResource(rec, rec.stoppingSince ? 'stopping' : state));
    }
    return out;
  }

  async price(): Promise<PriceQuote> {
    return { usdPerHour: 0, source: 'free', asOf: '' };
  }

  launch(req: LaunchRequest): Promise<LaunchOutcome> {
    return launchLocal(this.home, req, this.env);
  }

  terminate(ids: readonly string[]): Promise<void> {
    return terminateLocal(this.home, ids);
  }
}

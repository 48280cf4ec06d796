// The local provider: each node is a detached runner process on this machine, known by a node
// record under $TRAINCTL_HOME/local/nodes. A record is live only while its pid runs with the same
// process start time (so a reused pid is never mistaken for a node), or, before the runner has
// reported its pid, for a short while after the launcher claimed it.
import type { ObservedResource } from '../../core/observed.js';
import { loadPriceOverrides } from '../price-file.js';
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

  /** Free, unless the user's price file gives local nodes a price (tests give local trials a cost so). */
  async price(): Promise<PriceQuote> {
    const local = loadPriceOverrides(this.home, this.env)?.local;
    return local === undefined ? { usdPerHour: 0, source: 'free', asOf: '' } : { usdPerHour: local, source: 'user', asOf: '' };
  }

  async launch(req: LaunchRequest): Promise<LaunchOutcome> {
    return launchLocal(this.home, req, this.env, (await this.price()).usdPerHour);
  }

  terminate(ids: readonly string[]): Promise<void> {
    return terminateLocal(this.home, ids);
  }
}

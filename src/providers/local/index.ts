// The local provider: each node is a detached runner process on this machine, known by a node
// record under $TRAINCTL_HOME/local/nodes. A record is live only while its pid runs with the same
// process start time (so a reused pid is never mistaken for a node), or, before the runner has
// reported its pid, for a short while after the launcher claimed it.
import type { GoneResource, ObservedResource } from '../../core/observed.js';
import { loadPriceOverrides } from '../price-file.js';
import type { LaunchOutcome, LaunchRequest, PriceQuote, ProviderGoneObserver, ProviderLauncher, ProviderObserver } from '../provider.js';
import { launchLocal, terminateLocal } from './launch.js';
import { listNodeRecords, liveness, toResource } from './nodes.js';

export { nodesDir, processStartTime, type LocalNodeRecord } from './nodes.js';

export class LocalProvider implements ProviderObserver, ProviderLauncher, ProviderGoneObserver {
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

  /**
   * Nodes whose runner is gone: a record outlives its process until the trial's next launch
   * replaces it, so a runner that was killed (or ended) leaves one. Which of them is drift is the
   * planner's call, from the run record.
   */
  async observeGone(project: string): Promise<GoneResource[]> {
    const now = Date.now();
    return listNodeRecords(this.home)
      .filter(({ rec }) => rec.project === project && liveness(rec, now) === 'gone')
      .map(({ rec }) => {
        const { provider, id, job, trial, specHash, nodeRank, attempt } = toResource(rec, 'running');
        const detail = typeof rec.pid === 'number' ? `process ${rec.pid} not running` : 'its launcher died before starting it';
        return { provider, id, project, job, trial, specHash, nodeRank, attempt, detail };
      });
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

// Observation: asks each provider for the project's managed resources and each output store for
// its run records. Reads only; never changes anything.
import { ExitError } from '../core/errors.js';
import type { GoneResource, Observed, ObservedResource, ProviderName } from '../core/observed.js';
import type { Job } from '../spec/types.js';
import type { Provider } from '../providers/provider.js';
import type { RunStoreReader } from '../store/store.js';

export interface Environment {
  /** $TRAINCTL_HOME, default ~/.trainctl */
  home: string;
}

/** The provider of a name; `jobs` tell a cloud provider which regions to look in. */
export async function providerFor(name: ProviderName, env: Environment, jobs: readonly Job[] = []): Promise<Provider> {
  if (name === 'local') {
    const { LocalProvider } = await import('../providers/local/index.js');
    return new LocalProvider(env.home);
  }
  if (name === 'aws') {
    const { AwsProvider } = await import('../providers/aws/index.js');
    const regions = jobs.flatMap((j) => (j.spec.compute.provider === 'aws' ? [j.spec.compute.region] : []));
    return new AwsProvider(regions.length ? regions : [undefined]);
  }
  if (name === 'runpod') {
    const { RunpodProvider } = await import('../providers/runpod/index.js');
    // the worst-case price needs each job's retry.fallbackToOnDemandAfter (on-demand may follow)
    const fallback = new Map(jobs.map((j) => [j.spec.compute, j.spec.retry.fallbackToOnDemandAfter]));
    return new RunpodProvider(process.env, (compute) => fallback.get(compute));
  }
  const unknown: never = name;
  throw new Error(`bug: no provider named ${String(unknown)}`);
}

/** The store's read side, imported on demand so that `--help` never loads the S3 SDK. */
async function storeFor(uri: string): Promise<RunStoreReader> {
  const { openRunStore } = await import('../store/open.js');
  const store = await openRunStore(uri);
  if ('error' in store) throw new ExitError(store.error, 1, store.hint);
  return store;
}

export async function observeWorld(jobs: readonly Job[], env: Environment): Promise<Observed> {
  const providerProjects = new Map<ProviderName, Set<string>>();
  const storeProjects = new Map<string, Set<string>>();
  for (const job of jobs) {
    const p = job.spec.compute.provider;
    if (!providerProjects.has(p)) providerProjects.set(p, new Set());
    providerProjects.get(p)!.add(job.project);
    if (!storeProjects.has(job.spec.output.uri)) storeProjects.set(job.spec.output.uri, new Set());
    storeProjects.get(job.spec.output.uri)!.add(job.project);
  }
  // Every provider and store is opened before any read starts, and every read is awaited together:
  // a read that fails while another is still being set up must not be left without a handler (an
  // unhandled rejection ends the process with a stack instead of the one-line error).
  const providers = await Promise.all([...providerProjects].map(async ([name, projects]) => ({ provider: await providerFor(name, env, jobs), projects })));
  const resources: Promise<ObservedResource[]>[] = [];
  const gone: Promise<GoneResource[]>[] = [];
  for (const { provider, projects } of providers) {
    for (const project of projects) {
      // wrapped: a provider method that throws instead of rejecting is a rejection too
      resources.push(Promise.resolve().then(() => provider.observe(project)));
      if (provider.observeGone) gone.push(Promise.resolve().then(() => provider.observeGone!(project)));
    }
  }
  // Resources before records: a runner that ends in between then looks live with a finished
  // record (a noop), never gone with a running record, which would plan a resume of a trial that
  // just succeeded.
  const [observedResources, goneNodes] = await Promise.all([Promise.all(resources), Promise.all(gone)]).then(([r, g]) => [r.flat(), g.flat()] as const);
  const stores = await Promise.all([...storeProjects].map(async ([uri, projects]) => ({ store: await storeFor(uri), projects })));
  const records = stores.flatMap(({ store, projects }) => [...projects].map((project) => store.readRecords(project)));
  return { resources: observedResources, records: (await Promise.all(records)).flat(), gone: goneNodes };
}

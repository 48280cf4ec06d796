// Observation: asks each provider for the project's managed resources and each output store for
// its run records. Reads only; never changes anything.
import { ExitError } from '../core/errors.js';
import type { Observed, ObservedResource, ProviderName, TrialRecord } from '../core/observed.js';
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
  throw new ExitError(`provider "${name}" is not available in this version of trainctl`, 1, 'use `compute: { provider: local }` or `provider: aws` for now');
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
  const resources: Promise<ObservedResource[]>[] = [];
  for (const [name, projects] of providerProjects) {
    const provider = await providerFor(name, env, jobs);
    for (const project of projects) resources.push(provider.observe(project));
  }
  // Resources before records: a runner that ends in between then looks live with a finished
  // record (a noop), never gone with a running record, which would plan a resume of a trial that
  // just succeeded.
  const observedResources = (await Promise.all(resources)).flat();
  const records: Promise<TrialRecord[]>[] = [];
  for (const [uri, projects] of storeProjects) {
    const store = await storeFor(uri);
    for (const project of projects) records.push(store.readRecords(project));
  }
  return { resources: observedResources, records: (await Promise.all(records)).flat() };
}

// `trainctl validate`: load, check and expand specs; report every problem.
import { expandJob } from '../spec/expand.js';
import type { CommandContext } from './commands.js';
import { loadJobs, outputFormat } from './shared.js';

export async function run(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const { jobs, ok, diagnostics } = loadJobs(ctx, { quiet: format === 'json' });
  const summary = jobs.map((j) => ({ project: j.project, job: j.name, file: j.source.file, line: j.source.line, trials: expandJob(j).trials.length }));
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({ formatVersion: 1, valid: ok, diagnostics, jobs: summary }, null, 2)}\n`);
  } else if (ok) {
    for (const s of summary) ctx.stdout.write(`${s.file}: job ${s.project}/${s.job} is valid (${s.trials} trial${s.trials === 1 ? '' : 's'})\n`);
  } else {
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    ctx.stderr.write(`${errors} error${errors === 1 ? '' : 's'}\n`);
  }
  return ok ? 0 : 1;
}

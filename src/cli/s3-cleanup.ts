// `trainctl s3 cleanup <s3uri> --keep-last-n N`: each entry directly under the prefix (an object, or
// a "directory" with everything below it) is one checkpoint; all but the newest N go. A trainctl
// store's checkpoints/ is cleaned as `checkpoint cleanup` does it; a prefix holding run records
// (a trial or a whole store) is refused rather than pruned by age.
import { ExitError } from '../core/errors.js';
import { stepFromPath } from '../runner/checkpoints.js';
import type { CommandContext } from './commands.js';
import { cleanupCheckpoints } from './checkpoint-cleanup.js';
import { readCheckpointSet, type CheckpointEntry, type CheckpointSet, type StoredFile } from './checkpoint-source.js';
import { outputFormat } from './shared.js';
import { durationFlag, keepLastN, positionals, s3Location } from './s3-shared.js';

const RUN_RECORD = /(^|\/)(spec\.json|result\.json|metrics\.jsonl|\.lock)$|(^|\/)attempts\/\d+\//;

export async function cleanup(ctx: CommandContext): Promise<number> {
  outputFormat(ctx, ['text', 'json'] as const);
  const [uri] = positionals(ctx, ['s3uri'], 'trainctl s3 cleanup <s3uri> --keep-last-n N [--pattern G] [--older-than 30d]');
  s3Location(uri!);
  const n = keepLastN(ctx);
  const olderThanMs = durationFlag(ctx, 'older-than');
  const pattern = ctx.values.pattern as string | undefined;
  const opts = { keepLastN: n, ...(pattern !== undefined ? { pattern } : {}), ...(olderThanMs !== undefined ? { olderThanMs } : {}) };
  const set = await readCheckpointSet(ctx, uri!);
  if (set.layout === 'store') return cleanupCheckpoints(ctx, set, set.entries, opts);
  const records = set.all.find((f) => RUN_RECORD.test(f.rel));
  if (records) {
    throw new ExitError(`${uri} holds trainctl run records (${records.rel}), not just checkpoints`, 1, "point at a trial's checkpoints/ prefix, or use `trainctl checkpoint cleanup`");
  }
  return cleanupCheckpoints(ctx, set, entriesByName(set), opts);
}

/** One entry per name directly under the prefix, with or without a step in it. */
export function entriesByName(set: CheckpointSet): CheckpointEntry[] {
  const byName = new Map<string, StoredFile[]>();
  for (const f of set.all) {
    const name = f.rel.split('/')[0]!;
    byName.set(name, [...(byName.get(name) ?? []), f]);
  }
  return [...byName].map(([name, files]) => {
    const manifest = files.some((f) => f.rel === `${name}/MANIFEST.json`);
    const step = stepFromPath(name);
    return {
      name,
      ...(step !== undefined ? { step } : {}),
      files,
      parts: [name],
      size: files.reduce((s, f) => s + f.size, 0),
      modifiedMs: Math.max(...files.map((f) => f.modifiedMs)),
      ...(manifest ? { complete: true } : {}),
    };
  });
}

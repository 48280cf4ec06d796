// `trainctl checkpoint cleanup <dir|s3uri> --keep-last-n N`, and the deleting half of `s3 cleanup`:
// list once, decide with the pure keep-last-N rule, show the decision, confirm, delete exactly
// what was shown. A store's checkpoints go through the store (MANIFEST first, bytes another
// checkpoint still refers to kept, LATEST never the target); other checkpoints lose their
// MANIFEST.json first too, so a crash mid-way never leaves one that looks complete.
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitError } from '../core/errors.js';
import { planRetention, RETENTION_REASON_TEXT, type RetentionPlan } from '../core/retention.js';
import { formatBytes } from '../render/bytes.js';
import { colorEnabled, palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import { deleteObjects } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { dataFiles } from './checkpoint-list.js';
import { openStore, readCheckpointSet, setText, type CheckpointEntry, type CheckpointSet } from './checkpoint-source.js';
import { confirmOrRefuse, outputFormat } from './shared.js';
import { isoSeconds, keepLastN, positionals } from './s3-shared.js';

export async function cleanup(ctx: CommandContext): Promise<number> {
  outputFormat(ctx, ['text', 'json'] as const);
  const [target] = positionals(ctx, ['dir|s3uri'], 'trainctl checkpoint cleanup <dir|s3uri> --keep-last-n N');
  const n = keepLastN(ctx);
  const set = await readCheckpointSet(ctx, target!);
  return cleanupCheckpoints(ctx, set, set.entries, { keepLastN: n });
}

export interface CleanupOptions {
  keepLastN: number;
  pattern?: string;
  olderThanMs?: number;
}

export async function cleanupCheckpoints(ctx: CommandContext, set: CheckpointSet, entries: readonly CheckpointEntry[], opts: CleanupOptions): Promise<number> {
  const json = outputFormat(ctx, ['text', 'json'] as const) === 'json';
  const dryRun = Boolean(ctx.values['dry-run']);
  const protect = new Set(entries.filter((e) => e.latest).map((e) => e.name));
  const plan = planRetention(entries, { ...opts, now: Date.now(), protect });
  const doomed = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.item);
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  const where = setText(set);
  const jsonPlan = (deleted?: string[]) => ({
    formatVersion: 1, location: where, layout: set.layout, keepLastN: opts.keepLastN, orderedBy: plan.orderedBy, dryRun,
    decisions: plan.decisions.map((d) => ({ name: d.item.name, step: d.item.step ?? null, action: d.action, reason: d.reason, files: d.item.files.length, bytes: d.item.size, modified: new Date(d.item.modifiedMs).toISOString() })),
    ...(deleted ? { deleted } : {}),
  });

  if (!json) ctx.stdout.write(renderCleanupPlan(where, plan, c));
  if (doomed.length === 0 || dryRun) {
    if (json) ctx.stdout.write(`${JSON.stringify(jsonPlan(), null, 2)}\n`);
    return 0;
  }
  await confirmOrRefuse(ctx, 'delete', `\n${c.bold(`Delete these ${doomed.length} checkpoint${doomed.length === 1 ? '' : 's'}?`)} [y/N] `);
  const { deleted, failed } = await deleteEntries(ctx, set, doomed);
  if (json) ctx.stdout.write(`${JSON.stringify(jsonPlan(deleted), null, 2)}\n`);
  else ctx.stdout.write(`Deleted ${deleted.length} checkpoint${deleted.length === 1 ? '' : 's'} (${formatBytes(doomed.filter((e) => deleted.includes(e.name)).reduce((s, e) => s + e.size, 0))}).\n`);
  for (const f of failed) ctx.stderr.write(`error: ${f}\n`);
  return failed.length ? 1 : 0;
}

export function renderCleanupPlan(where: string, plan: RetentionPlan<CheckpointEntry>, c: ReturnType<typeof palette>): string {
  const doomed = plan.decisions.filter((d) => d.action === 'delete');
  const kept = plan.decisions.filter((d) => d.action === 'keep');
  const out: string[] = [];
  if (doomed.length) {
    out.push(renderTable(doomed, [
      { header: '', value: () => c.red('-') },
      { header: 'CHECKPOINT', value: (d) => (d.item.step !== undefined && d.item.name !== String(d.item.step) ? `${d.item.name} (step ${d.item.step})` : d.item.name), max: 60 },
      { header: 'FILES', value: (d) => String(dataFiles(d.item)), align: 'right' },
      { header: 'SIZE', value: (d) => formatBytes(d.item.size), align: 'right' },
      { header: 'MODIFIED', value: (d) => isoSeconds(d.item.modifiedMs) },
      { header: 'WHY', value: (d) => c.dim(RETENTION_REASON_TEXT[d.reason]) },
    ], { header: c.bold }).trimEnd());
  }
  const keptNames = (reason: string) => kept.filter((d) => d.reason === reason).map((d) => d.item.name);
  const keptParts = [
    keptNames('newest').length ? `newest ${keptNames('newest').join(', ')}` : '',
    keptNames('latest').length ? `LATEST ${keptNames('latest').join(', ')}` : '',
    keptNames('recent').length ? `${keptNames('recent').length} newer than --older-than` : '',
    keptNames('in-progress').length ? `${keptNames('in-progress').length} incomplete, possibly uploading` : '',
    keptNames('unmatched').length ? `${keptNames('unmatched').length} not matching --pattern` : '',
    keptNames('no-step').length ? `${keptNames('no-step').length} without a step number (${keptNames('no-step').slice(0, 3).join(', ')}${keptNames('no-step').length > 3 ? ', …' : ''})` : '',
  ].filter(Boolean);
  if (kept.length) out.push(`Keeping ${kept.length}: ${keptParts.join('; ')}.`);
  const files = doomed.reduce((s, d) => s + dataFiles(d.item), 0);
  out.push(doomed.length
    ? `Cleanup: ${doomed.length} checkpoint${doomed.length === 1 ? '' : 's'} to delete (${files} file${files === 1 ? '' : 's'}, ${formatBytes(plan.deleteBytes)}) in ${where}.`
    : `Nothing to delete in ${where}.`);
  return `${out.join('\n')}\n`;
}

/** Deletes exactly these entries; returns the names deleted and one line per failure. */
async function deleteEntries(ctx: CommandContext, set: CheckpointSet, doomed: readonly CheckpointEntry[]): Promise<{ deleted: string[]; failed: string[] }> {
  const deleted: string[] = [];
  const failed: string[] = [];
  if (set.store) {
    const store = await openStore(ctx, set.store.uri);
    for (const e of [...doomed].sort((a, b) => a.step! - b.step!)) {
      try {
        await store.deleteCheckpoint(set.store.ref, e.step!);
        deleted.push(e.name);
      } catch (err) {
        if (err instanceof ExitError) throw err;
        failed.push(`delete checkpoint ${e.name}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    return { deleted, failed };
  }
  const isManifest = (rel: string) => rel.endsWith('/MANIFEST.json');
  if (set.base.kind === 's3') {
    const { client, bucket, prefix } = set.base;
    const keys = doomed.flatMap((e) => e.files.map((f) => f.rel));
    // every MANIFEST.json goes before any other file of any checkpoint
    const first = await deleteObjects(client, bucket, keys.filter(isManifest).map((k) => prefix + k));
    const blocked = new Set(first.failed.map((f) => f.key));
    const rest = await deleteObjects(client, bucket, doomed.filter((e) => !e.files.some((f) => blocked.has(prefix + f.rel))).flatMap((e) => e.files.filter((f) => !isManifest(f.rel)).map((f) => prefix + f.rel)));
    const bad = new Set([...first.failed, ...rest.failed].map((f) => f.key));
    for (const e of doomed) (e.files.some((f) => bad.has(prefix + f.rel) || blocked.has(prefix + f.rel)) ? failed : deleted).push(e.name);
    failed.splice(0, failed.length, ...[...first.failed, ...rest.failed].map((f) => f.message));
    return { deleted, failed };
  }
  const dir = set.base.dir;
  const local = (rel: string) => join(dir, ...rel.split('/'));
  for (const e of doomed) for (const f of e.files.filter((x) => isManifest(x.rel))) await rm(local(f.rel), { force: true });
  for (const e of doomed) {
    try {
      // the files listed, not whatever a directory holds by now; then the directories they leave empty
      for (const f of e.files) await rm(local(f.rel), { force: true });
      for (const part of e.parts) await removeEmptyDirs(join(dir, part));
      deleted.push(e.name);
    } catch (err) {
      failed.push(`delete ${join(dir, e.name)}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { deleted, failed };
}

/** Removes dir and its subdirectories bottom-up while they are empty; anything left in them stays. */
async function removeEmptyDirs(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // a file part (already removed) or gone
  }
  for (const e of entries) if (e.isDirectory()) await removeEmptyDirs(join(dir, e.name));
  try {
    await rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

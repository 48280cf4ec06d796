// `trainctl checkpoint list <dir|s3uri>`: every checkpoint with its step, files, size, time and
// whether its MANIFEST makes it complete; LATEST marked.
import { formatBytes } from '../render/bytes.js';
import { colorEnabled, palette, type Palette } from '../render/color.js';
import { renderTable } from '../render/table.js';
import type { CommandContext } from './commands.js';
import { readCheckpointSet, setText, type CheckpointEntry, type CheckpointSet } from './checkpoint-source.js';
import { outputFormat } from './shared.js';
import { isoSeconds, positionals } from './s3-shared.js';

export type CheckpointStatus = 'complete' | 'incomplete' | 'damaged-manifest' | 'files';

export function entryStatus(e: CheckpointEntry): CheckpointStatus {
  if (e.manifestDamaged) return 'damaged-manifest';
  if (e.complete === undefined) return 'files';
  return e.complete ? 'complete' : 'incomplete';
}

/** Files of a checkpoint other than its MANIFEST.json. */
export const dataFiles = (e: CheckpointEntry): number => e.files.filter((f) => !f.rel.endsWith('/MANIFEST.json')).length;

const STATUS_TEXT: Record<CheckpointStatus, string> = { complete: 'complete', incomplete: 'incomplete (no MANIFEST.json)', 'damaged-manifest': 'incomplete (damaged MANIFEST.json)', files: '-' };

export async function list(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [target] = positionals(ctx, ['dir|s3uri'], 'trainctl checkpoint list <dir|s3uri>');
  const set = await readCheckpointSet(ctx, target!);
  if (format === 'json') {
    ctx.stdout.write(`${JSON.stringify({
      formatVersion: 1,
      location: setText(set),
      layout: set.layout,
      latest: set.latest ?? null,
      checkpoints: set.entries.map((e) => ({
        step: e.step, name: e.name, files: dataFiles(e), bytes: e.size, modified: new Date(e.modifiedMs).toISOString(), status: entryStatus(e), latest: Boolean(e.latest),
      })),
      ignored: set.ignored,
    }, null, 2)}\n`);
    return 0;
  }
  const c = palette(!ctx.values['no-color'] && colorEnabled(ctx.stdout, ctx.env));
  ctx.stdout.write(renderCheckpointList(set, c));
  return 0;
}

export function renderCheckpointList(set: CheckpointSet, c: Palette): string {
  const where = `${setText(set)}${set.layout === 'store' ? `, trainctl store${set.latest !== undefined ? `; LATEST → ${set.latest}` : '; no LATEST'}` : ''}`;
  const ignored = set.ignored.length ? `${set.ignored.length} other entr${set.ignored.length === 1 ? 'y' : 'ies'} without a step number in the name: ${set.ignored.slice(0, 5).join(', ')}${set.ignored.length > 5 ? ', …' : ''}\n` : '';
  if (set.entries.length === 0) return `No checkpoints in ${where}.\n${ignored}`;
  const color = (s: CheckpointStatus) => (s === 'complete' ? c.green : s === 'files' ? c.dim : c.yellow);
  const table = renderTable(set.entries, [
    { header: 'STEP', value: (e) => String(e.step), align: 'right' },
    ...(set.layout === 'files' ? [{ header: 'NAME', value: (e: CheckpointEntry) => e.name, max: 48 }] : []),
    { header: 'FILES', value: (e) => String(dataFiles(e)), align: 'right' },
    { header: 'SIZE', value: (e) => formatBytes(e.size), align: 'right' },
    { header: 'MODIFIED', value: (e) => isoSeconds(e.modifiedMs) },
    { header: 'STATUS', value: (e) => `${color(entryStatus(e))(STATUS_TEXT[entryStatus(e)])}${e.latest ? `  ${c.bold('LATEST')}` : ''}` },
  ], { header: c.bold });
  const complete = set.entries.filter((e) => e.complete).length;
  const total = set.entries.reduce((s, e) => s + e.size, 0);
  const counts = set.layout === 'store' || set.entries.some((e) => e.complete !== undefined) ? `, ${complete} complete` : '';
  return `Checkpoints in ${where}\n${table}\n${set.entries.length} checkpoint${set.entries.length === 1 ? '' : 's'}${counts}, ${formatBytes(total)}\n${ignored}`;
}

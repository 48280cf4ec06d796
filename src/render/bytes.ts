// Sizes, rates and transfer progress in words: `1.5 MiB`, `42.0 MiB/s`, the progress line shown
// on a terminal and the one summary line shown everywhere.
import { formatDuration } from '../core/duration.js';
import type { TransferProgress } from '../transfer/types.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → `1.5 KiB`; below 1 KiB in plain bytes. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

/** Bytes as a table cell: human units, or the exact count. */
export function sizeCell(n: number, human: boolean): string {
  return human ? formatBytes(n) : String(n);
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** What a progress line shows: the engine's progress, whatever else it carries. */
export type ProgressNumbers = Omit<TransferProgress, 'elapsedMs'>;

/** `  37%  1.2 GiB / 3.3 GiB  210 MiB/s  ETA 10s  12/40 files` */
export function progressLine(p: ProgressNumbers): string {
  const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : p.filesTotal > 0 ? Math.floor((100 * p.filesDone) / p.filesTotal) : 0;
  const parts = [`${String(pct).padStart(3)}%`, `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}`, formatRate(p.bytesPerSecond)];
  parts.push(p.etaMs === undefined ? 'ETA -' : `ETA ${formatDuration(p.etaMs)}`);
  if (p.filesTotal > 1) parts.push(`${p.filesDone}/${p.filesTotal} files`);
  return parts.join('  ');
}

/** `Uploaded 12 files (1.2 GiB) in 4s, 300 MiB/s` */
export function transferSummary(verb: string, r: { files: number; bytes: number; durationMs: number; skipped?: number; failed?: number; resumedBytes?: number }): string {
  const secs = Math.max(r.durationMs, 1) / 1000;
  const extra = [
    r.skipped ? `${r.skipped} skipped` : '',
    r.resumedBytes ? `${formatBytes(r.resumedBytes)} already uploaded (resumed)` : '',
    r.failed ? `${r.failed} failed` : '',
  ].filter(Boolean);
  const what = `${r.files} file${r.files === 1 ? '' : 's'} (${formatBytes(r.bytes)})`;
  return `${verb} ${what} in ${r.durationMs < 60_000 ? `${(r.durationMs / 1000).toFixed(1)}s` : formatDuration(r.durationMs)}, ${formatRate(r.bytes / secs)}${extra.length ? `; ${extra.join(', ')}` : ''}`;
}

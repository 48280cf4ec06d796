// Data staging (DESIGN §5): every dataset of spec.data into the node's work dir before setup runs.
// s3:// sources go through the transfer engine (parallel, verified, atomic per file, unsafe keys
// refused before anything is written); file:// sources are copied with the same filters.
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashFile } from '../store/manifest.js';
import type { DataStaging } from './task.js';

/** Staging failed for a reason retrying the attempt would not fix by itself: the attempt fails with it. */
export class StagingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StagingError';
  }
}

export interface StagedData { source: string; target: string; files: number; bytes: number; ms: number }

export async function stageData(data: readonly DataStaging[], workDir: string, signal?: AbortSignal): Promise<StagedData[]> {
  const out: StagedData[] = [];
  for (const d of data) {
    const started = Date.now();
    const root = resolve(workDir);
    const target = resolve(root, d.target);
    if (target !== root && !target.startsWith(root + sep)) throw new StagingError(`data target ${JSON.stringify(d.target)} leaves the work dir`);
    await mkdir(target, { recursive: true });
    const got = d.source.startsWith('s3://') ? await stageS3(d, target, signal) : await stageFiles(d, target, signal);
    out.push({ source: d.source, target: d.target, ...got, ms: Date.now() - started });
  }
  return out;
}

async function stageS3(d: DataStaging, target: string, signal?: AbortSignal): Promise<{ files: number; bytes: number }> {
  const { createS3Client, downloadTree, parseS3Uri, TransferError } = await import('../transfer/index.js');
  const loc = parseS3Uri(d.source);
  if ('error' in loc) throw new StagingError(`data source ${d.source}: ${loc.error}`);
  try {
    const report = await downloadTree(createS3Client(), loc, target, {
      verify: d.verify, resumeDir: false,
      ...(d.include ? { include: d.include } : {}),
      ...(d.exclude ? { exclude: d.exclude } : {}),
      ...(signal ? { signal } : {}),
    });
    const first = report.failed[0];
    if (first) throw new StagingError(`staging ${d.source}: ${report.failed.length} object(s) failed, first: ${first.message}`);
    return { files: report.files, bytes: report.bytes };
  } catch (err) {
    if (err instanceof TransferError) throw new StagingError(`staging ${d.source}: ${err.message}${err.hint ? ` — ${err.hint}` : ''}`);
    throw err;
  }
}

/** A local directory: copied file by file through a temp name; `etag` is checked as `size` (a copy has no ETag). */
async function stageFiles(d: DataStaging, target: string, signal?: AbortSignal): Promise<{ files: number; bytes: number }> {
  const { walkLocalTree } = await import('../transfer/index.js');
  let src: string;
  try {
    src = fileURLToPath(d.source);
  } catch {
    throw new StagingError(`data source ${d.source} is not a valid file:// URI`);
  }
  if (!(await stat(src).then((s) => s.isDirectory(), () => false))) throw new StagingError(`data source ${d.source} is not a directory`);
  const { files } = await walkLocalTree(src, { ...(d.include ? { include: d.include } : {}), ...(d.exclude ? { exclude: d.exclude } : {}), ...(signal ? { signal } : {}) });
  let bytes = 0;
  for (const f of files) {
    if (signal?.aborted) throw new StagingError('staging cancelled');
    const dest = join(target, ...f.rel.split('/'));
    if (relative(target, dest).startsWith('..')) throw new StagingError(`refusing ${JSON.stringify(f.rel)}: it leaves the target directory`);
    await mkdir(dirname(dest), { recursive: true });
    const tmp = join(dirname(dest), `.${f.rel.split('/').pop()!}.staging-${process.pid}`);
    try {
      await copyFile(f.path, tmp);
      if (d.verify !== 'none') {
        const size = (await stat(tmp)).size;
        if (size !== f.size) throw new StagingError(`staging ${f.rel}: copied ${size} bytes, the source has ${f.size}`);
      }
      if (d.verify === 'sha256' && (await hashFile(tmp)).sha256 !== (await hashFile(f.path)).sha256) throw new StagingError(`staging ${f.rel}: sha256 of the copy differs from the source`);
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
    bytes += f.size;
  }
  return { files: files.length, bytes };
}

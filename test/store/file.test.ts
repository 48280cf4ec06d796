// The file:// store reader on real directories in the layout of DESIGN §4.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file.js';
import { tempDir, writeFiles, writeTrialRecord } from '../helpers.js';

describe('FileStore.readRecords', () => {
  it('reads spec, attempts in order, result and the latest complete checkpoint', async () => {
    const root = tempDir();
    writeTrialRecord(root, {
      project: 'p', job: 'j', trial: 'j-1', specHash: 'aaa',
      attempts: [{ n: 2, state: 'running', costUSD: 0.5 }, { n: 1, state: 'interrupted', costUSD: 1.25 }],
      checkpoint: { step: 300 },
    });
    writeTrialRecord(root, { project: 'p', job: 'j', trial: 'j-2', specHash: 'bbb', attempts: [{ n: 1, state: 'succeeded' }], result: { state: 'succeeded', specHash: 'bbb', finishedAt: '2026-01-01T00:00:00Z' } });
    const recs = await new FileStore(pathToFileURL(root).href).readRecords('p');
    expect(recs.map((r) => r.trial)).toEqual(['j-1', 'j-2']);
    expect(recs[0]!.attempts.map((a) => [a.n, a.state, a.costUSD])).toEqual([[1, 'interrupted', 1.25], [2, 'running', 0.5]]);
    expect(recs[0]!.checkpoint).toEqual({ step: 300 });
    expect(recs[0]!.result).toBeUndefined();
    expect(recs[1]!.result?.state).toBe('succeeded');
  });

  it('never counts a checkpoint whose MANIFEST is missing', async () => {
    const root = tempDir();
    writeTrialRecord(root, { project: 'p', job: 'j', trial: 'j-1', specHash: 'aaa', attempts: [{ n: 1, state: 'interrupted' }] });
    writeFiles(join(root, 'p/j/j-1'), { 'checkpoints/LATEST': '200', 'checkpoints/200/model.pt': 'half-written' });
    const [rec] = await new FileStore(pathToFileURL(root).href).readRecords('p');
    expect(rec!.checkpoint).toBeUndefined();
  });

  it('treats a missing store or project as empty, and skips dirs without a spec.json', async () => {
    const root = tempDir();
    expect(await new FileStore(pathToFileURL(join(root, 'nope')).href).readRecords('p')).toEqual([]);
    writeFiles(root, { 'p/j/stray/notes.txt': 'x', 'p/j/j-9/spec.json': '{ broken' });
    expect(await new FileStore(pathToFileURL(root).href).readRecords('p')).toEqual([]);
  });

  it('keeps projects apart', async () => {
    const root = tempDir();
    writeTrialRecord(root, { project: 'a', job: 'j', trial: 'j-1', specHash: 'x', attempts: [{ n: 1 }] });
    writeTrialRecord(root, { project: 'b', job: 'j', trial: 'j-2', specHash: 'y', attempts: [{ n: 1 }] });
    const store = new FileStore(pathToFileURL(root).href);
    expect((await store.readRecords('a')).map((r) => r.trial)).toEqual(['j-1']);
    expect((await store.readRecords('b')).map((r) => r.trial)).toEqual(['j-2']);
  });
});

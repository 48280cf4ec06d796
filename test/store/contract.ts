// The RunStore contract, run against every store (file:// and s3://) with the same assertions:
// what the runner and the planner may rely on whatever the URI. Raw access (write or remove one
// stored file behind the store's back) lets each suite damage a store the same way.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LeaseStore } from '../../src/store/lock.js';
import { CheckpointError, type RunStore, type TrialRef } from '../../src/store/store.js';
import { scratchDir } from '../runner/harness.js';

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface ContractStore {
  store: RunStore & LeaseStore;
  ref: TrialRef;
  /** Writes one stored file, path relative to the trial dir. */
  put(rel: string, body: string | Buffer): Promise<void>;
  remove(rel: string): Promise<void>;
  /** Paths (relative to the trial dir) of everything stored for the trial. */
  keys(): Promise<string[]>;
}

export function localCheckpoint(files: Record<string, string | Buffer>): string {
  const dir = scratchDir('trainctl-ckpt-');
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), body);
  }
  return dir;
}

const status = (n: number, state: 'starting' | 'running' | 'succeeded' | 'interrupted', extra: Record<string, unknown> = {}) => ({
  n, specHash: 'h', state, startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:01:00Z', costUSD: 0.5, host: 'x', ...extra,
});

/** `make(trial)` gives a fresh, empty trial in a store of the kind under test. */
export function storeContract(kind: string, make: (trial?: string) => Promise<ContractStore>): void {
  describe(`${kind} store contract: records`, () => {
    it('claims an attempt and rank once', async () => {
      const { store, ref } = await make();
      expect(await store.claimAttempt(ref, 1, 0, 'host-a:1')).toBe(true);
      expect(await store.claimAttempt(ref, 1, 0, 'host-b:2')).toBe(false);
      expect(await store.claimAttempt(ref, 1, 1, 'host-b:2')).toBe(true);
      expect(await store.claimAttempt(ref, 2, 0, 'host-b:2')).toBe(true);
    });

    it('lets exactly one of many parallel claimers win', async () => {
      const { store, ref } = await make();
      for (let round = 1; round <= 5; round++) {
        const wins = await Promise.all(Array.from({ length: 12 }, (_, i) => store.claimAttempt(ref, round, 0, `host-${i}:${i}`)));
        expect(wins.filter(Boolean)).toHaveLength(1);
      }
    });

    it('writes spec, status and result, readable by the planner side', async () => {
      const { store, ref } = await make();
      expect(await store.readTrial(ref)).toBeUndefined();
      await store.writeSpec(ref, { ...ref, specHash: 'h', parameters: { lr: 0.1 }, command: 'python t.py' });
      expect(await store.readTrial(ref)).toEqual({ ...ref, specHash: 'h', attempts: [] });
      for (const state of ['starting', 'running', 'succeeded'] as const) await store.writeStatus(ref, status(1, state));
      await store.writeStatus(ref, { ...status(2, 'running'), costUSD: undefined as unknown as number });
      await store.writeResult(ref, { state: 'succeeded', specHash: 'h', finishedAt: '2026-01-01T00:01:00Z', attempt: 1, durationMs: 60_000, costUSD: 0.5, finalMetrics: { loss: 1 } });
      const rec = await store.readTrial(ref);
      expect(rec).toMatchObject({ specHash: 'h', attempts: [{ n: 1, state: 'succeeded', costUSD: 0.5 }, { n: 2, state: 'running', costUSD: 0 }], result: { state: 'succeeded' } });
      expect(rec!.checkpoint).toBeUndefined();
      expect(await store.readRecords(ref.project)).toEqual([rec]);
      expect(await store.readRecords('no-such-project')).toEqual([]);
    });

    it('reads every trial of a project, in order, skipping those without a valid spec.json', async () => {
      const a = await make('zeta-1');
      const { store, ref } = a;
      const other = { ...ref, job: `${ref.job}-b` };
      for (const r of [{ ...ref, trial: 'zeta-1' }, { ...ref, trial: 'alpha-2' }, { ...other, trial: 'mid-3' }]) {
        await store.writeSpec(r, { ...r, specHash: `h-${r.trial}`, parameters: {}, command: 'c' });
        await store.writeStatus(r, status(1, 'running'));
      }
      await a.put('../broken-9/spec.json', '{ broken');
      await a.put('../stray-8/notes.txt', 'x');
      const recs = (await store.readRecords(ref.project)).filter((r) => r.job === ref.job || r.job === other.job);
      expect(recs.map((r) => `${r.job}/${r.trial}`)).toEqual([`${ref.job}/alpha-2`, `${ref.job}/zeta-1`, `${other.job}/mid-3`]);
      expect(recs.map((r) => r.specHash)).toEqual(['h-alpha-2', 'h-zeta-1', 'h-mid-3']);
      expect(await store.readRecords(`${ref.project}x`)).toEqual([]);
    });

    it('appends metrics and logs and reads them back as written, skipping damaged metric lines', async () => {
      const { store, ref } = await make();
      expect(await store.readMetrics(ref)).toEqual([]);
      expect(await store.readLog(ref, 1, 0)).toBeUndefined();
      await store.appendMetrics(ref, '{"attempt":1,"step":1,"time":"t","loss":2}\n');
      await store.appendMetrics(ref, '{"attempt":1,"step":2,"time":"t","loss":1}\n{"attempt":1,"st');
      await store.appendMetrics(ref, 'ep":3,"time":"t","loss":0.5}\nnot json\n');
      await store.appendLog(ref, 1, 0, 'line one\n');
      await store.appendLog(ref, 1, 0, Buffer.from('line twö\n'));
      await store.appendLog(ref, 1, 1, 'rank one\n');
      expect(await store.readMetrics(ref)).toEqual([
        { attempt: 1, step: 1, time: 't', values: { loss: 2 } },
        { attempt: 1, step: 2, time: 't', values: { loss: 1 } },
        { attempt: 1, step: 3, time: 't', values: { loss: 0.5 } },
      ]);
      const log = Buffer.from('line one\nline twö\n');
      expect(await store.readLog(ref, 1, 0)).toEqual(log);
      expect(await store.readLog(ref, 1, 0, 5)).toEqual(log.subarray(5));
      expect(await store.readLog(ref, 1, 0, log.length)).toEqual(Buffer.alloc(0));
      expect(await store.readLog(ref, 1, 0, log.length + 10)).toEqual(Buffer.alloc(0));
      expect((await store.readLog(ref, 1, 1))?.toString()).toBe('rank one\n');
      expect(await store.readLog(ref, 2, 0)).toBeUndefined();
    });

    it('keeps a long log whole and in order across many appends', async () => {
      const { store, ref } = await make();
      const lines = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(3, '0')} ${randomBytes(40).toString('hex')}\n`);
      for (const l of lines) await store.appendLog(ref, 3, 0, l);
      const all = lines.join('');
      expect((await store.readLog(ref, 3, 0))?.toString()).toBe(all);
      let offset = 0;
      let followed = '';
      for (const cut of [100, 1000, 2500, all.length]) {
        const got = (await store.readLog(ref, 3, 0, offset))!.toString();
        followed += got.slice(0, cut - offset);
        offset = cut;
      }
      expect(followed).toBe(all);
    });
  });

  describe(`${kind} store contract: checkpoints`, () => {
    it('puts files with a sha256 MANIFEST and LATEST, and restores them verified', async () => {
      const { store, ref } = await make();
      const big = randomBytes(3 * 1024 * 1024);
      const local = localCheckpoint({ 'model.pt': big, 'sub/optim.pt': 'optimizer' });
      const manifest = await store.putCheckpoint(ref, 100, 2, local, ['model.pt', 'sub/optim.pt']);
      expect(manifest).toMatchObject({ step: 100, attempt: 2, files: [
        { path: 'model.pt', size: big.length, sha256: sha(big) }, { path: 'sub/optim.pt', size: 9, sha256: sha('optimizer') },
      ] });
      expect(await store.listCheckpoints(ref)).toEqual([100]);
      expect(await store.readTrial(ref)).toBeUndefined(); // no spec.json: not a trial record yet
      await store.writeSpec(ref, { ...ref, specHash: 'h', parameters: {}, command: 'c' });
      expect((await store.readTrial(ref))?.checkpoint).toEqual({ step: 100 });
      const dest = scratchDir();
      writeFileSync(join(dest, 'model.pt'), 'stale');
      expect(await store.fetchCheckpoint(ref, 100, dest)).toEqual(manifest);
      expect(readFileSync(join(dest, 'model.pt')).equals(big)).toBe(true);
      expect(readFileSync(join(dest, 'sub', 'optim.pt'), 'utf8')).toBe('optimizer');
      expect(readdirSync(dest, { recursive: true })).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.(tmp|raw)-/)]));
    });

    it('restores empty files and unicode names', async () => {
      const { store, ref } = await make();
      const local = localCheckpoint({ 'empty.pt': '', 'wéights ü.pt': 'ü' });
      await store.putCheckpoint(ref, 1, 1, local, ['empty.pt', 'wéights ü.pt']);
      const dest = scratchDir();
      await store.fetchCheckpoint(ref, 1, dest);
      expect(readFileSync(join(dest, 'empty.pt'), 'utf8')).toBe('');
      expect(readFileSync(join(dest, 'wéights ü.pt'), 'utf8')).toBe('ü');
    });

    it('lists only checkpoints with a MANIFEST, and deleting the newest moves LATEST back', async () => {
      const c = await make();
      const { store, ref } = c;
      await store.writeSpec(ref, { ...ref, specHash: 'h', parameters: {}, command: 'c' });
      const local = localCheckpoint({ 'c.pt': 'x' });
      for (const step of [10, 20, 30]) await store.putCheckpoint(ref, step, 1, local, ['c.pt']);
      await c.put('checkpoints/40/c.pt', 'no manifest yet');
      expect(await store.listCheckpoints(ref)).toEqual([10, 20, 30]);
      expect((await store.readTrial(ref))?.checkpoint).toEqual({ step: 30 });
      await store.deleteCheckpoint(ref, 30);
      expect((await c.keys()).filter((k) => k.startsWith('checkpoints/30/'))).toEqual([]);
      expect((await store.readTrial(ref))?.checkpoint).toEqual({ step: 20 });
      await store.deleteCheckpoint(ref, 10);
      expect((await store.readTrial(ref))?.checkpoint).toEqual({ step: 20 });
      await store.deleteCheckpoint(ref, 20);
      expect(await store.listCheckpoints(ref)).toEqual([]);
      expect((await c.keys()).filter((k) => k === 'checkpoints/LATEST')).toEqual([]);
      expect((await store.readTrial(ref))?.checkpoint).toBeUndefined();
    });

    it('never counts a checkpoint whose LATEST points at a step without MANIFEST', async () => {
      const c = await make();
      await c.store.writeSpec(c.ref, { ...c.ref, specHash: 'h', parameters: {}, command: 'c' });
      await c.put('checkpoints/LATEST', '200\n');
      await c.put('checkpoints/200/model.pt', 'half-written');
      expect((await c.store.readTrial(c.ref))?.checkpoint).toBeUndefined();
      expect((await c.store.readRecords(c.ref.project)).find((r) => r.trial === c.ref.trial)?.checkpoint).toBeUndefined();
    });

    it('restores a later checkpoint whose unchanged file is shared with an earlier one, also after the earlier one is pruned', async () => {
      const c = await make();
      const { store, ref } = c;
      const weights = randomBytes(256 * 1024);
      const first = localCheckpoint({ 'model.pt': weights, 'optim.pt': 'opt-1' });
      await store.putCheckpoint(ref, 1, 1, first, ['model.pt', 'optim.pt']);
      const second = localCheckpoint({ 'model.pt': weights, 'optim.pt': 'opt-2' });
      const m2 = await store.putCheckpoint(ref, 2, 1, second, ['model.pt', 'optim.pt']);
      expect(m2.files.map((f) => [f.path, f.sha256])).toEqual([['model.pt', sha(weights)], ['optim.pt', sha('opt-2')]]);
      await store.deleteCheckpoint(ref, 1);
      expect(await store.listCheckpoints(ref)).toEqual([2]);
      const dest = scratchDir();
      await store.fetchCheckpoint(ref, 2, dest);
      expect(readFileSync(join(dest, 'model.pt')).equals(weights)).toBe(true);
      expect(readFileSync(join(dest, 'optim.pt'), 'utf8')).toBe('opt-2');
      // and once the last one referring to the shared bytes goes, nothing of either is left
      await store.deleteCheckpoint(ref, 2);
      expect((await c.keys()).filter((k) => k.startsWith('checkpoints/'))).toEqual([]);
    });

    it('round-trips compressed checkpoints (compress: gzip) byte for byte', async () => {
      const { store, ref } = await make();
      const text = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `weight ${i % 97} ${i % 13}\n`).join(''));
      const noise = randomBytes(200_000);
      const local = localCheckpoint({ 'model.pt': text, 'noise.bin': noise });
      const m = await store.putCheckpoint(ref, 5, 1, local, ['model.pt', 'noise.bin'], { compress: 'gzip' });
      expect(m.files.map((f) => [f.path, f.size, f.sha256])).toEqual([['model.pt', text.length, sha(text)], ['noise.bin', noise.length, sha(noise)]]);
      const dest = scratchDir();
      await store.fetchCheckpoint(ref, 5, dest);
      expect(readFileSync(join(dest, 'model.pt')).equals(text)).toBe(true);
      expect(readFileSync(join(dest, 'noise.bin')).equals(noise)).toBe(true);
    });

    it('refuses to restore a checkpoint without MANIFEST, with a changed or missing file', async () => {
      const c = await make();
      const { store, ref } = c;
      await store.putCheckpoint(ref, 5, 1, localCheckpoint({ 'a.pt': 'aaaa', 'b.pt': 'bbbb' }), ['a.pt', 'b.pt']);
      await c.put('checkpoints/5/b.pt', 'bbbB');
      const dest = scratchDir();
      await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(CheckpointError);
      await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(/b\.pt does not match its MANIFEST/);
      // nothing half-restored: a.pt was verified but not moved in, since b.pt failed
      expect(readdirSync(dest)).toEqual([]);
      await c.remove('checkpoints/5/b.pt');
      await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(/b\.pt is missing/);
      await c.remove('checkpoints/5/MANIFEST.json');
      await expect(store.fetchCheckpoint(ref, 5, dest)).rejects.toThrow(/incomplete: no valid MANIFEST/);
      await expect(store.fetchCheckpoint(ref, 6, dest)).rejects.toThrow(CheckpointError);
      expect(readdirSync(dest)).toEqual([]);
    });

    it('refuses manifest paths and objects that climb out, and such paths on put', async () => {
      const c = await make();
      const { store, ref } = c;
      const outside = scratchDir();
      await c.put('../other/checkpoints/1/x.pt', 'x');
      const entries = [
        { path: '../escape.pt' }, { path: '/etc/passwd' }, { path: 'a/../../x' }, { path: '' },
        { path: 'ok.pt', object: '../other/checkpoints/1/x.pt' }, { path: 'ok.pt', object: 'spec.json' }, { path: 'ok.pt', object: '/etc/passwd' },
      ];
      for (const e of entries) {
        await c.put('checkpoints/7/MANIFEST.json', JSON.stringify({ step: 7, createdAt: 't', attempt: 1, files: [{ size: 1, sha256: sha('x'), ...e }] }));
        await expect(store.fetchCheckpoint(ref, 7, join(outside, 'dest'))).rejects.toThrow(/refusing manifest (path|object)/);
      }
      expect(readdirSync(outside)).toEqual([]);
      await expect(store.putCheckpoint(ref, 8, 1, outside, ['../x'])).rejects.toThrow(CheckpointError);
    });
  });
}

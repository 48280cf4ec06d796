// Checkpoint manifest decisions without I/O: what a manifest may name, and what deleting a
// checkpoint may remove when later checkpoints point at its bytes.
import { describe, expect, it } from 'vitest';
import { checkpointGarbage, encodingFor, isSafeObject, parseManifest } from '../../src/store/manifest.js';
import type { CheckpointManifest } from '../../src/store/store.js';

const m = (step: number, files: CheckpointManifest['files']): CheckpointManifest => ({ step, createdAt: 't', attempt: 1, files });
const f = (path: string, object?: string) => ({ path, size: 1, sha256: 'x', ...(object ? { object } : {}) });

describe('checkpointGarbage', () => {
  it('removes a checkpoint whole when nothing else points into it', () => {
    expect(checkpointGarbage(10, m(10, [f('a.pt'), f('b.pt')]), [m(20, [f('a.pt'), f('b.pt')])], ['checkpoints/10/a.pt', 'checkpoints/10/b.pt']))
      .toEqual(['checkpoints/10/a.pt', 'checkpoints/10/b.pt']);
  });

  it('keeps the bytes a remaining checkpoint refers to', () => {
    const later = m(20, [f('a.pt', 'checkpoints/10/a.pt'), f('b.pt')]);
    expect(checkpointGarbage(10, m(10, [f('a.pt'), f('b.pt')]), [later], ['checkpoints/10/a.pt', 'checkpoints/10/b.pt'])).toEqual(['checkpoints/10/b.pt']);
  });

  it('removes bytes kept for it in an earlier, already deleted checkpoint once it goes too', () => {
    const deleted = m(20, [f('a.pt', 'checkpoints/10/a.pt'), f('b.pt')]);
    expect(checkpointGarbage(20, deleted, [m(30, [f('b.pt')])], ['checkpoints/20/b.pt'])).toEqual(['checkpoints/10/a.pt', 'checkpoints/20/b.pt']);
    // …but never what lies in a checkpoint that is still complete
    expect(checkpointGarbage(20, deleted, [m(10, [f('z.pt')])], ['checkpoints/20/b.pt'])).toEqual(['checkpoints/20/b.pt']);
  });

  it('cleans up a checkpoint without a manifest (a crash half-way) by what its directory holds', () => {
    expect(checkpointGarbage(40, undefined, [], ['checkpoints/40/x.pt'])).toEqual(['checkpoints/40/x.pt']);
  });
});

describe('manifest entries', () => {
  it('parse only when well formed, objects and encodings included', () => {
    expect(parseManifest(JSON.stringify(m(1, [{ path: 'a', size: 1, sha256: 'x', object: 'checkpoints/0/a', encoding: 'gzip' }])))?.files).toHaveLength(1);
    expect(parseManifest(JSON.stringify(m(1, [{ path: 'a', size: 1, sha256: 'x', encoding: 'lz4' as 'gzip' }])))).toBeUndefined();
    expect(parseManifest(JSON.stringify(m(1, [{ path: 'a', size: 1, sha256: 'x', object: 7 as unknown as string }])))).toBeUndefined();
    expect(parseManifest('{ half')).toBeUndefined();
    expect(parseManifest(undefined)).toBeUndefined();
  });

  it('may point only at a file of some checkpoint of the same trial', () => {
    for (const ok of ['checkpoints/10/a.pt', 'checkpoints/0/sub/a.pt.gz']) expect(isSafeObject(ok)).toBe(true);
    for (const bad of ['spec.json', 'checkpoints/LATEST', 'checkpoints/10/', 'checkpoints/x/a', '../other/checkpoints/1/a', 'checkpoints/1/../../spec.json', '/checkpoints/1/a', 'checkpoints\\1\\a']) {
      expect(isSafeObject(bad)).toBe(false);
    }
  });

  it('compresses with zstd only where node has it, else gzip', () => {
    expect(encodingFor(undefined)).toBeUndefined();
    expect(encodingFor('none')).toBeUndefined();
    expect(encodingFor('gzip')).toBe('gzip');
    expect(['zstd', 'gzip']).toContain(encodingFor('zstd'));
  });
});

// DDP through the runner: torch.distributed.run on CPU (gloo), 1 node × 2 processes and 2 nodes ×
// 1 process on 127.0.0.1. Same world size and data, so the losses must be identical.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logText, makeTask, metricRows, PY, readJson, sandbox, startRunner, status, type Sandbox } from './harness.js';

const hasTorch = spawnSync(PY, ['-c', 'import torch.distributed'], { stdio: 'ignore' }).status === 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function train(sb: Sandbox, nodes: number, nprocPerNode: number) {
  const masterPort = await freePort();
  const runners = Array.from({ length: nodes }, (_, nodeRank) => startRunner(makeTask(sb, {
    nodeRank, nodes, nprocPerNode,
    command: `${PY} ddp.py 10`,
    distributed: { backend: 'gloo', masterAddr: '127.0.0.1', masterPort },
    checkpoint: { pattern: '*.pt', keepLastN: 5 },
    heartbeatMs: 500,
  })));
  const ends = await Promise.all(runners.map((r) => r.done));
  for (const [rank, end] of ends.entries()) expect(end.code, `node ${rank}: ${end.stderr}\n${logText(sb, 1, rank)}`).toBe(0);
  return metricRows(sb);
}

describe.skipIf(!hasTorch)(`runner: DDP with torch.distributed.run${hasTorch ? '' : ` (skipped: ${PY} cannot import torch)`}`, () => {
  it('1 node × 2 procs and 2 nodes × 1 proc give the same losses; only node 0 uploads checkpoints', { timeout: 60_000 }, async () => {
    const single = sandbox('ddp-single');
    const one = await train(single, 1, 2);
    expect(one.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(one.every((r) => r.world === 2)).toBe(true);
    expect(logText(single)).toContain('-m torch.distributed.run --nnodes 1 --nproc_per_node 2 --node_rank 0 --master_addr 127.0.0.1');

    const multi = sandbox('ddp-multi');
    const two = await train(multi, 2, 1);
    expect(two.map((r) => r.loss)).toEqual(one.map((r) => r.loss));

    // node 1 trained and saved its own files, but only node 0's reached the store
    const node1Dir = join(multi.root, 'work-a1-r1', 'checkpoints');
    expect(readdirSync(node1Dir).sort()).toEqual(['node1-step10.pt', 'node1-step5.pt']);
    expect(await multi.store.listCheckpoints(multi.ref)).toEqual([5, 10]);
    for (const step of [5, 10]) {
      const manifest = readJson<{ files: { path: string }[] }>(join(multi.trialDir, 'checkpoints', String(step), 'MANIFEST.json'))!;
      expect(manifest.files.map((f) => f.path)).toEqual([`node0-step${step}.pt`]);
    }
    expect(status(multi)).toMatchObject({ state: 'succeeded', nodeRank: 0 });
    expect(logText(multi, 1, 1)).toContain('--node_rank 1');
    expect(existsSync(join(multi.trialDir, 'attempts', '1', 'logs', '1.log'))).toBe(true);
    expect(readJson(join(multi.trialDir, 'result.json'))).toMatchObject({ state: 'succeeded' });
  });
});

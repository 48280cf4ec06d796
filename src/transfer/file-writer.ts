// Small downloaded objects are written (temp file, mtime, rename into place) by one worker thread
// when a tree has many of them. Creating a file is the slow step on some disks (0.2–0.9 ms each
// measured on this project's VM's ext4), and a synchronous create on the main thread stalls every
// request in flight meanwhile; the promise API instead spreads creates over libuv's threads, which
// contend on the directory's lock and cost more CPU than the work. One writer thread overlaps the
// creates with the network and keeps them in order. The bytes move to it without a copy.
import type { Worker } from 'node:worker_threads';
import { closeSync, fsyncSync, futimesSync, openSync, renameSync, writeSync } from 'node:fs';

export interface SmallWrite {
  tmp: string;
  target: string;
  data: Buffer;
  /** The object's LastModified in ms, 0 to leave the file's mtime alone. */
  mtimeMs: number;
  durable: boolean;
}

export interface FileWriter {
  /** Resolves once the file is under its final name; rejects with the fs error (the temp file removed). */
  write(w: SmallWrite): Promise<void>;
  close(): Promise<void>;
}

/** Writes on the calling thread: for a handful of files, where a thread's start-up costs more. */
export const inlineWriter: FileWriter = {
  write(w) {
    writeSmallSync(w);
    return Promise.resolve();
  },
  close: () => Promise.resolve(),
};

/** The write itself; the worker runs the same steps (its source below). */
export function writeSmallSync(w: SmallWrite): void {
  const fd = openSync(w.tmp, 'w');
  try {
    for (let off = 0; off < w.data.length; ) off += writeSync(fd, w.data, off, w.data.length - off);
    if (w.mtimeMs > 0) futimesSync(fd, w.mtimeMs / 1000, w.mtimeMs / 1000);
    if (w.durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(w.tmp, w.target);
}

// CommonJS, as an eval'd worker is: the bundles (CLI, runner) need no second file for it.
// Messages carry batches both ways: a message per file cost ~30 µs of the main thread's CPU, 16
// files per message ~6 µs each (measured, 64 KiB buffers moved).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
function write(m) {
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  try {
    const fd = fs.openSync(m.tmp, 'w');
    try {
      for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
      if (m.mtimeMs > 0) fs.futimesSync(fd, m.mtimeMs / 1000, m.mtimeMs / 1000);
      if (m.durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(m.tmp, m.target);
    return { id: m.id };
  } catch (err) {
    try { fs.unlinkSync(m.tmp); } catch {}
    return { id: m.id, error: { message: err.message, code: err.code, syscall: err.syscall, path: err.path } };
  }
}
parentPort.on('message', (batch) => parentPort.postMessage(batch.map(write)));
`;

const BATCH_MAX = 64;
const BATCH_WAIT_MS = 4;

interface Reply { id: number; error?: { message: string; code?: string; syscall?: string; path?: string } }
interface Queued { id: number; tmp: string; target: string; data: Buffer; mtimeMs: number; durable: boolean }

/** A writer thread; close() ends it. Writes made after close() reject. */
export async function startWriterThread(): Promise<FileWriter> {
  const { Worker: WorkerClass } = await import('node:worker_threads');
  const worker: Worker = new WorkerClass(WORKER_SOURCE, { eval: true });
  worker.unref();
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let queue: Queued[] = [];
  let transfers: ArrayBuffer[] = [];
  let nextId = 0;
  let dead: Error | undefined;
  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (replies: Reply[]) => {
    for (const r of replies) {
      const p = pending.get(r.id);
      if (!p) continue;
      pending.delete(r.id);
      if (r.error) p.reject(Object.assign(new Error(r.error.message), r.error));
      else p.resolve();
    }
  });
  worker.on('error', failAll);
  worker.on('exit', () => failAll(new Error('the file writer thread ended')));
  // writes go in batches: up to BATCH_MAX, or what arrived within BATCH_WAIT_MS of the first
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    const batch = queue;
    const moved = transfers;
    queue = [];
    transfers = [];
    if (!dead) worker.postMessage(batch, moved);
  };
  return {
    write(w) {
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      const { data } = w;
      // a Buffer that owns its whole ArrayBuffer moves without a copy; a pooled slice is copied
      if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) transfers.push(data.buffer);
      if (queue.length === 0) timer = setTimeout(flush, BATCH_WAIT_MS);
      queue.push({ id, tmp: w.tmp, target: w.target, data, mtimeMs: w.mtimeMs, durable: w.durable });
      if (queue.length >= BATCH_MAX) flush();
      return new Promise<void>((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    async close() {
      dead ??= new Error('the file writer is closed');
      await worker.terminate();
    },
  };
}

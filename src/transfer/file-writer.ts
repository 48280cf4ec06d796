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
  /** Memory for an object's bytes, to hand to write() (which may take it over). */
  alloc(size: number): Buffer;
  /** Resolves once the file is under its final name; rejects with the fs error (the temp file removed). */
  write(w: SmallWrite): Promise<void>;
  close(): Promise<void>;
}

/** Writes on the calling thread: for a handful of files, where a thread's start-up costs more. */
export const inlineWriter: FileWriter = {
  alloc: (size) => Buffer.allocUnsafe(size),
  write(w) {
    writeSmallSync(w);
    return Promise.resolve();
  },
  close: () => Promise.resolve(),
};

/** The write itself; the worker runs the same steps (its source below). */
function writeSmallSync(w: SmallWrite): void {
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
// the memory goes back with the replies, for the next objects
parentPort.on('message', (batch) => {
  const replies = batch.map(write);
  // (copies of slices of one pool arrive as views of one buffer: each goes back once)
  const slabs = [...new Set(batch.map((m) => m.data.buffer))];
  parentPort.postMessage({ replies, slabs }, slabs);
});
`;

const BATCH_MAX = 64;
const BATCH_WAIT_MS = 4;

interface Reply { id: number; error?: { message: string; code?: string; syscall?: string; path?: string } }

/** Objects from this size on get recycled memory; the smallest share node's pool and are copied. */
const RECYCLE_MIN = 16 * 1024;
/** At most this much recycled memory is kept. */
const RECYCLE_MAX_BYTES = 64 * 1024 * 1024;
type Queued = SmallWrite & { id: number };

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
  // recycled ArrayBuffers by capacity (a power of two): moved to the thread with each write and back
  // with its reply, so a tree of small objects allocates (and collects) a few dozen, not one each
  const free = new Map<number, ArrayBuffer[]>();
  const ours = new WeakSet<ArrayBuffer>();
  let freeBytes = 0;
  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', ({ replies, slabs }: { replies: Reply[]; slabs: ArrayBuffer[] }) => {
    for (const ab of slabs) {
      // only what alloc() handed out comes back in its sizes (copies of pooled slices do not)
      if (ab.byteLength < RECYCLE_MIN || (ab.byteLength & (ab.byteLength - 1)) !== 0 || freeBytes + ab.byteLength > RECYCLE_MAX_BYTES) continue;
      ours.add(ab);
      const kept = free.get(ab.byteLength);
      if (kept) kept.push(ab);
      else free.set(ab.byteLength, [ab]);
      freeBytes += ab.byteLength;
    }
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
    alloc(size) {
      if (size < RECYCLE_MIN) return Buffer.allocUnsafe(size);
      const capacity = 2 ** Math.ceil(Math.log2(size));
      const ab = free.get(capacity)?.pop();
      if (ab) {
        freeBytes -= capacity;
        return Buffer.from(ab, 0, size);
      }
      const fresh = new ArrayBuffer(capacity);
      ours.add(fresh);
      return Buffer.from(fresh, 0, size);
    },
    write(w) {
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      const { data } = w;
      // memory from alloc() moves without a copy (its view with it); anything else is copied
      if (data.buffer instanceof ArrayBuffer && ours.has(data.buffer) && !transfers.includes(data.buffer)) transfers.push(data.buffer);
      if (queue.length === 0) timer = setTimeout(flush, BATCH_WAIT_MS);
      queue.push({ ...w, id });
      if (queue.length >= BATCH_MAX) flush();
      return new Promise<void>((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    async close() {
      dead ??= new Error('the file writer is closed');
      await worker.terminate();
    },
  };
}

// `trainctl s3 watch <s3uri>`: lists the prefix every interval and prints what appeared, changed
// or went since the last look, until interrupted. A failed look is reported and retried at the
// next interval; a missing bucket or denied access ends the watch.
import { formatDuration } from '../core/duration.js';
import { formatBytes } from '../render/bytes.js';
import { formatS3Uri, listObjects, TransferError, type ObjectInfo } from '../transfer/index.js';
import type { CommandContext } from './commands.js';
import { outputFormat } from './shared.js';
import { durationFlag, isoSeconds, positionals, s3Client, s3Location } from './s3-shared.js';

export type WatchEvent = { event: 'added' | 'changed' | 'deleted'; key: string; size: number; etag: string; lastModified: string };

/** What changed between two listings, keys in order. Pure. */
export function diffListings(before: ReadonlyMap<string, ObjectInfo>, after: ReadonlyMap<string, ObjectInfo>): WatchEvent[] {
  const events: WatchEvent[] = [];
  const ev = (event: WatchEvent['event'], o: ObjectInfo): WatchEvent => ({ event, key: o.key, size: o.size, etag: o.etag, lastModified: o.lastModified.toISOString() });
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const b = before.get(key);
    const a = after.get(key);
    if (!b && a) events.push(ev('added', a));
    else if (b && !a) events.push(ev('deleted', b));
    else if (a && b && (a.etag !== b.etag || a.size !== b.size || a.lastModified.getTime() !== b.lastModified.getTime())) events.push(ev('changed', a));
  }
  return events;
}

const SYMBOL = { added: '+', changed: '~', deleted: '-' } as const;

export async function watch(ctx: CommandContext): Promise<number> {
  const format = outputFormat(ctx, ['text', 'json'] as const);
  const [uri] = positionals(ctx, ['s3uri'], 'trainctl s3 watch <s3uri> [--interval 30s]');
  const loc = s3Location(uri!);
  const intervalMs = durationFlag(ctx, 'interval', '30s')!;
  const client = s3Client(ctx);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const snapshot = async () => {
    const m = new Map<string, ObjectInfo>();
    for await (const o of listObjects(client, loc, { parallel: 8, signal: stop.signal })) m.set(o.key, o);
    return m;
  };
  try {
    let seen = await snapshot();
    ctx.stderr.write(`Watching ${formatS3Uri(loc)} every ${formatDuration(intervalMs)} (${seen.size} object${seen.size === 1 ? '' : 's'} now); Ctrl-C to stop.\n`);
    while (!stop.signal.aborted) {
      await sleep(intervalMs, stop.signal);
      if (stop.signal.aborted) break;
      let now: Map<string, ObjectInfo>;
      try {
        now = await snapshot();
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof TransferError && err.fatal) throw err;
        ctx.stderr.write(`warning: listing ${formatS3Uri(loc)} failed (${(err as Error).message}); trying again in ${formatDuration(intervalMs)}\n`);
        continue;
      }
      for (const e of diffListings(seen, now)) {
        if (format === 'json') ctx.stdout.write(`${JSON.stringify({ ...e, seenAt: new Date().toISOString() })}\n`);
        else ctx.stdout.write(`${isoSeconds(Date.now())}  ${SYMBOL[e.event]} s3://${loc.bucket}/${e.key}${e.event === 'deleted' ? '' : `  ${formatBytes(e.size)}`}\n`);
      }
      seen = now;
    }
    return 0;
  } catch (err) {
    if (stop.signal.aborted) return 0;
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // idle keep-alive sockets would hold the process up to a second after Ctrl-C
    client.destroy();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

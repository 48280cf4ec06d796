// A real S3 server for tests and benchmarks: a one-host Ceph cluster (1 mon, 1 memstore or
// bluestore OSD, auth none, pool size 1) with radosgw's beast frontend on 127.0.0.1, in a temp
// dir. Installs Debian's ceph-mon ceph-osd radosgw when missing (as root). Stops only its own
// processes. Facts behind the settings: DESIGN.md §9.
//
//   node scripts/s3-server.mjs start [--bluestore] [--keep]   prints the endpoint and keys as JSON, stays up
//   import { startS3Server } from './s3-server.mjs'          for vitest's global setup and benchmarks
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGES = ['ceph-mon', 'ceph-osd', 'radosgw'];
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export function ensureCephInstalled() {
  if (has('radosgw') && has('ceph-mon') && has('ceph-osd') && has('monmaptool')) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has('apt-get')) throw new Error(`radosgw is missing — install with: sudo apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`);
  console.error(`s3-server: installing ${PACKAGES.join(', ')} from Debian's packages (once, ~20 s)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...PACKAGES], { stdio: ['ignore', 'inherit', 'inherit'], env }).status === 0;
  if (!install() && !(spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env }).status === 0 && install())) {
    throw new Error('s3-server: apt-get could not install radosgw');
  }
}

/** A free loopback port outside Ceph's own 6800–7300. */
async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
    });
    if (port < 6800 || port > 7300) return port;
  }
}

function run(cmd, args, dir) {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`s3-server: ${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHttp(url, ms, procs) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const p of procs) if (p.exitCode !== null) throw new Error(`s3-server: ${p.spawnargs[0]} exited early (${p.exitCode})`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  throw new Error(`s3-server: ${url} did not answer within ${ms} ms`);
}

/**
 * Starts the cluster. `memoryGiB` bounds memstore (RAM ≈ 2× data); `bluestore` uses a sparse block
 * file instead, for GiB-scale benchmarks with bounded RAM.
 */
export async function startS3Server({ bluestore = false, memoryGiB = 3, blockGiB = 8 } = {}) {
  ensureCephInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'trainctl-rgw-'));
  for (const d of ['run', 'log', 'mon', 'osd', 'rgw']) mkdirSync(join(dir, d));
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, `[global]
fsid = ${fsid}
mon_host = v2:127.0.0.1:${monPort}
ms_bind_msgr1 = false
ms_mon_client_mode = crc
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = /dev/null
mon_allow_pool_size_one = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
paxos_propose_interval = 0.05
mon_warn_on_pool_no_redundancy = false
run_dir = ${dir}/run
pid_file = ${dir}/run/$name.pid
admin_socket = ${dir}/run/$name.asok
log_file = ${dir}/log/$name.log
osd_objectstore = ${bluestore ? 'bluestore' : 'memstore'}
memstore_device_bytes = ${memoryGiB * 1024 ** 3}
bluestore_block_path = ${dir}/block
bluestore_block_size = ${blockGiB * 1024 ** 3}
bluestore_block_create = true
osd_max_object_size = 1073741824

[mon.a]
mon_data = ${dir}/mon

[osd.0]
osd_data = ${dir}/osd

[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw_thread_pool_size = 64
rgw_enable_lc_threads = false
rgw_enable_gc_threads = false
rgw_data = ${dir}/rgw
`);
  const procs = [];
  const start = (cmd, args) => {
    const out = openSync(join(dir, 'log', `${cmd}.out`), 'a');
    const p = spawn(cmd, [...args, '-f', '-c', conf], { cwd: dir, stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    p.unref();
    procs.push(p);
    return p;
  };
  const running = (p) => p.exitCode === null && p.signalCode === null;
  const signal = (p, sig) => { try { process.kill(p.pid, sig); } catch { /* gone */ } };
  // A parent that exits before stop() has finished (a runner's teardown cut short) takes the
  // cluster with it: exit handlers run even on process.exit(), and SIGKILL needs no waiting.
  const onExit = () => { for (const p of procs) if (running(p)) signal(p, 'SIGKILL'); };
  process.on('exit', onExit);
  const stop = async () => {
    // radosgw and the OSD together, before the mon: they hang in shutdown without it
    const [mon, ...rest] = procs;
    for (const group of [rest, mon ? [mon] : []]) {
      for (const p of group) if (running(p)) signal(p, 'SIGTERM');
      const end = Date.now() + 5_000;
      while (Date.now() < end && group.some(running)) await sleep(50);
      for (const p of group) if (running(p)) signal(p, 'SIGKILL');
    }
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')], dir);
    run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '-c', conf], dir);
    start('ceph-mon', ['-i', 'a']);
    const osdUuid = randomUUID();
    run('ceph', ['-c', conf, '--connect-timeout', '20', 'osd', 'new', osdUuid], dir);
    run('ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], dir);
    start('ceph-osd', ['-i', '0']);
    start('radosgw', ['-n', 'client.rgw']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitHttp(endpoint, 60_000, procs);
    const accessKeyId = 'TRAINCTLTEST';
    const secretAccessKey = 'trainctl-test-secret';
    run('radosgw-admin', ['-c', conf, '-n', 'client.rgw', 'user', 'create', '--uid=trainctl', '--display-name=trainctl', `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`], dir);
    return { endpoint, accessKeyId, secretAccessKey, region: 'us-east-1', dir, pids: procs.map((p) => p.pid), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'start') {
  const t0 = Date.now();
  const s = await startS3Server({ bluestore: process.argv.includes('--bluestore') });
  const { stop, ...info } = s;
  console.log(JSON.stringify({ ...info, startedInMs: Date.now() - t0 }));
  if (!process.argv.includes('--keep')) {
    process.on('SIGINT', () => stop().then(() => process.exit(0)));
    process.on('SIGTERM', () => stop().then(() => process.exit(0)));
    setInterval(() => {}, 1 << 30);
  }
}

// What a cloud node downloads before the runner starts: the bundled runner and a tarball of the
// code directory, both content-addressed under `<store>/<project>/.trainctl/` (uploaded once per
// content), fetched by the bootstrap through presigned GET URLs so the node needs no S3 client of
// its own to get going.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { ExitError } from '../../core/errors.js';
import { createS3Client, headObject, parseS3Uri, s3Endpoint, uploadFile, type S3Location } from '../../transfer/index.js';

/** How long the bootstrap's download links stay valid: the bootstrap runs within minutes of launch. */
const PRESIGN_SECONDS = 6 * 3600;

export interface NodeBundle {
  runnerUrl: string;
  codeUrl: string;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A gzipped tarball of the code dir with fixed names, times and owners, so equal code hashes equal. */
function tarCode(codeDir: string, checkpointDir: string, out: string): Promise<void> {
  const cp = normalize(checkpointDir).replace(/[\\/]+$/, '');
  const args = [
    '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner',
    '--exclude=./.git', '--exclude=./node_modules', '--exclude=__pycache__', `--exclude=./${cp}`,
    '-cf', '-', '-C', codeDir, '.',
  ];
  return new Promise((resolve, reject) => {
    // gzip -n leaves the time stamp out of the gzip header
    const child = execFile('bash', ['-c', `set -o pipefail; tar "$@" | gzip -n -6 > ${JSON.stringify(out)}`, 'tar', ...args], { maxBuffer: 1 << 20 }, (err, _o, stderr) => {
      if (err) reject(new ExitError(`could not pack the code directory ${codeDir}: ${String(stderr).trim().split('\n')[0] || err.message}`, 1, 'check that code.path is readable and tar and gzip are installed'));
      else resolve();
    });
    child.stdin?.end();
  });
}

/** A GET URL for one object that works without credentials for PRESIGN_SECONDS. */
export async function presignGet(client: S3Client, loc: S3Location, expiresIn = PRESIGN_SECONDS): Promise<string> {
  const config = client.config;
  const region = await config.region();
  const custom = s3Endpoint();
  let base: URL;
  let path: string;
  const encodedKey = loc.key.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
  if (custom) {
    base = new URL(custom);
    path = `${base.pathname.replace(/\/$/, '')}/${loc.bucket}/${encodedKey}`;
  } else if (loc.bucket.includes('.')) {
    base = new URL(`https://s3.${region}.amazonaws.com`);
    path = `/${loc.bucket}/${encodedKey}`;
  } else {
    base = new URL(`https://${loc.bucket}.s3.${region}.amazonaws.com`);
    path = `/${encodedKey}`;
  }
  const signer = new SignatureV4({ service: 's3', region, credentials: config.credentials, sha256: config.sha256, uriEscapePath: false });
  const signed = await signer.presign({
    method: 'GET', protocol: base.protocol, hostname: base.hostname, ...(base.port ? { port: Number(base.port) } : {}),
    // S3 signs presigned GETs over an unsigned payload; the header is hoisted into the query
    path, query: {}, headers: { host: base.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  } as Parameters<SignatureV4['presign']>[0], { expiresIn });
  const query = Object.entries(signed.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
  return `${base.protocol}//${base.host}${path}?${query}`;
}

async function uploadOnce(client: S3Client, localPath: string, loc: S3Location): Promise<void> {
  if (await headObject(client, loc).catch(() => undefined)) return;
  await uploadFile(client, localPath, loc, { verify: 'size' });
}

/**
 * Uploads (when not there yet) the runner and the code of one launch to the output store and
 * returns links the node's bootstrap can fetch them with.
 */
export async function prepareBundle(storeUri: string, project: string, codeDir: string, checkpointDir: string, runnerPath: string): Promise<NodeBundle> {
  const store = parseS3Uri(storeUri);
  if ('error' in store) throw new ExitError(`output store ${storeUri}: ${store.error}`, 1, store.hint);
  const client = createS3Client();
  const prefix = `${store.key === '' || store.key.endsWith('/') ? store.key : `${store.key}/`}${project}/.trainctl/`;
  const tmp = await mkdtemp(join(tmpdir(), 'trainctl-bundle-'));
  try {
    const tarball = join(tmp, 'code.tgz');
    await tarCode(codeDir, checkpointDir, tarball);
    const [codeSha, runnerSha] = await Promise.all([sha256File(tarball), sha256File(runnerPath)]);
    const codeLoc = { bucket: store.bucket, key: `${prefix}code/${codeSha}.tgz` };
    const runnerLoc = { bucket: store.bucket, key: `${prefix}runner/${runnerSha}.js` };
    await Promise.all([uploadOnce(client, tarball, codeLoc), uploadOnce(client, runnerPath, runnerLoc)]);
    const [codeUrl, runnerUrl] = await Promise.all([presignGet(client, codeLoc), presignGet(client, runnerLoc)]);
    return { codeUrl, runnerUrl };
  } finally {
    client.destroy();
    await rm(tmp, { recursive: true, force: true });
  }
}

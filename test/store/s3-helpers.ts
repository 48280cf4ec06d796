// S3 test fixtures: a client for the run's radosgw (inject('s3')), a bucket per test file, and an
// S3Store on a fresh prefix per test, with raw access for damaging it behind the store's back.
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { posix } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { createS3Client, listObjects } from '../../src/transfer/index.js';
import { S3Store, type S3StoreOptions } from '../../src/store/s3.js';
import type { ContractStore } from './contract.js';

export function testClient(): S3Client {
  const s3 = inject('s3');
  return createS3Client({ endpoint: s3.endpoint, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
}

/** The environment a CLI or runner child needs to reach the test server. */
export function s3Env(): Record<string, string> {
  const s3 = inject('s3');
  return { AWS_ENDPOINT_URL: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
}

export async function makeBucket(client: S3Client, stem: string): Promise<string> {
  const bucket = `${stem}-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Small segments and no wait between appends, so tests exercise sealing without sleeping. */
export const FAST: S3StoreOptions = { appendIntervalMs: 0, segmentBytes: 2048, segmentWrites: 4 };

export function s3ContractStore(client: S3Client, bucket: string, opts: S3StoreOptions = FAST) {
  return async (trial = 'fit-0a1b2c3d'): Promise<ContractStore & { store: S3Store; trialPrefix: string }> => {
    const uri = `s3://${bucket}/${randomBytes(4).toString('hex')}/runs/`;
    const store = new S3Store(uri, client, opts);
    const ref = { project: 'lab', job: 'fit', trial };
    const trialPrefix = `${store.base}${ref.project}/${ref.job}/${ref.trial}/`;
    const keyOf = (rel: string) => posix.normalize(`${trialPrefix}${rel}`);
    return {
      store, ref, trialPrefix,
      put: async (rel, body) => { await client.send(new PutObjectCommand({ Bucket: bucket, Key: keyOf(rel), Body: body })); },
      remove: async (rel) => { await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(rel) })); },
      keys: async () => {
        const out: string[] = [];
        for await (const o of listObjects(client, { bucket, key: trialPrefix })) out.push(o.key.slice(trialPrefix.length));
        return out.sort();
      },
    };
  };
}

export interface CountingProxy {
  endpoint: string;
  /** Every request forwarded: method and decoded path (`/bucket/key`), query left out. */
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy in front of the test server that records each request, to count what
 * really went over the wire (the transfer engine signs some requests itself, past SDK middleware).
 * The Host header is forwarded as sent, so SigV4 signatures still verify.
 */
export async function countingProxy(): Promise<CountingProxy> {
  const target = new URL(inject('s3').endpoint);
  const requests: CountingProxy['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, path: decodeURIComponent(req.url!.split('?')[0]!) });
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export function clientFor(endpoint: string): S3Client {
  const s3 = inject('s3');
  return createS3Client({ endpoint, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
}

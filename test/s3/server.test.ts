// The test S3 server is real radosgw: buckets, objects and multipart work through the real SDK.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { createS3Client } from '../../src/transfer/client.js';

describe('radosgw test server', () => {
  it('stores and returns objects through the client factory', async () => {
    const s3 = inject('s3');
    const client = createS3Client({ endpoint: s3.endpoint, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: 'server-test' }));
    await client.send(new PutObjectCommand({ Bucket: 'server-test', Key: 'a/b c/ünï.txt', Body: 'hello' }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'server-test', Key: 'a/b c/ünï.txt' }));
    expect(await got.Body!.transformToString()).toBe('hello');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'server-test' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['a/b c/ünï.txt']);
  });
});

// A separate process that uploads one file with the engine, so a test can SIGKILL it in the middle
// of a multipart upload. Keys come from the environment (never argv, which `ps` shows).
// argv: endpoint srcPath bucket key resumeDir partSize concurrency
import { createS3Client, uploadFile } from '../../src/transfer/index.js';

const [endpoint, src, bucket, key, resumeDir, partSize, concurrency] = process.argv.slice(2);
const client = createS3Client({ endpoint, credentials: { accessKeyId: process.env.TEST_S3_KEY!, secretAccessKey: process.env.TEST_S3_SECRET! } });
const report = await uploadFile(client, src!, { bucket: bucket!, key: key! }, {
  resumeDir,
  partSize: Number(partSize),
  concurrency: Number(concurrency),
  onProgress: (p) => process.stdout.write(`progress ${p.bytesDone}\n`),
});
process.stdout.write(`done ${JSON.stringify(report)}\n`);

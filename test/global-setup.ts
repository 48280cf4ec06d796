// Once per test run: builds dist/ (the CLI tests run the real bundled binary) and starts a real
// S3 server (radosgw on 127.0.0.1, scripts/s3-server.mjs); tests reach it through inject('s3').
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startS3Server } from '../scripts/s3-server.mjs';

export interface S3TestServer { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string }

declare module 'vitest' {
  export interface ProvidedContext { s3: S3TestServer }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // the SDK's "node ≥ 22 from 2027" notice would fill every test log; the CLI and runner silence it too
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  const server = (await startS3Server()) as S3TestServer & { stop(): Promise<void> };
  project.provide('s3', { endpoint: server.endpoint, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey, region: server.region });
  return () => server.stop();
}

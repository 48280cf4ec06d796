// Shared by the emulator's own tests: SDK clients pointed at an emulator, and polling.
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { readFileSync } from 'node:fs';
import { EMULATOR_CREDENTIALS, type Emulator } from './index.js';

export function ec2Client(emu: Emulator, maxAttempts?: number): EC2Client {
  return new EC2Client({ endpoint: emu.ec2Endpoint, region: emu.region, credentials: EMULATOR_CREDENTIALS, ...(maxAttempts ? { maxAttempts } : {}) });
}

export function ssmClient(emu: Emulator, maxAttempts?: number): SSMClient {
  return new SSMClient({ endpoint: emu.ssmEndpoint, region: emu.region, credentials: EMULATOR_CREDENTIALS, ...(maxAttempts ? { maxAttempts } : {}) });
}

/** The tests' one polling helper. */
export { until } from '../helpers.js';

/** Whether a pid is a live process (not gone, not a zombie waiting to be reaped). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The error an SDK call rejects with: its name (the AWS error code) and HTTP status. */
export async function awsError(p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
}

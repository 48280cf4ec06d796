// The aws provider's EC2 and SSM clients, one pair per region. Endpoints from
// AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_SSM (or AWS_ENDPOINT_URL), credentials and region from
// the SDK's default chain. SDK errors that are the user's to fix (no credentials, no region,
// unreachable endpoint) become one-line ExitErrors here.
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ExitError } from '../../core/errors.js';
import { awsErrorCode, classifyAwsError } from './model.js';

export interface AwsClients {
  region: string;
  ec2: EC2Client;
  /** The same, with the SDK's retries off: RunInstances must fail over to on-demand within seconds. */
  ec2NoRetry: EC2Client;
  ssm: SSMClient;
}

const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function defaultRegion(env: NodeJS.ProcessEnv): string | undefined {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
}

export class AwsClientPool {
  private readonly byRegion = new Map<string, AwsClients>();
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {
    // the SDK's "node ≥ 22 from 2027" notice says nothing about the user's job
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  }

  /** Clients for a region (compute.region, else AWS_REGION / AWS_DEFAULT_REGION). */
  for(region: string | undefined): AwsClients {
    const r = region ?? defaultRegion(this.env);
    if (!r) throw new ExitError('no AWS region: compute.region is not set and neither is AWS_REGION', 1, 'add `region: us-east-1` under compute, or export AWS_REGION');
    let c = this.byRegion.get(r);
    if (!c) {
      const ec2Endpoint = this.env.AWS_ENDPOINT_URL_EC2 || this.env.AWS_ENDPOINT_URL || undefined;
      const ssmEndpoint = this.env.AWS_ENDPOINT_URL_SSM || this.env.AWS_ENDPOINT_URL || undefined;
      const common = { region: r, logger: quietLogger };
      c = {
        region: r,
        ec2: new EC2Client({ ...common, ...(ec2Endpoint ? { endpoint: ec2Endpoint } : {}), maxAttempts: 8, retryMode: 'standard' }),
        ec2NoRetry: new EC2Client({ ...common, ...(ec2Endpoint ? { endpoint: ec2Endpoint } : {}), maxAttempts: 1 }),
        ssm: new SSMClient({ ...common, ...(ssmEndpoint ? { endpoint: ssmEndpoint } : {}), maxAttempts: 8, retryMode: 'standard' }),
      };
      this.byRegion.set(r, c);
    }
    return c;
  }
}

/**
 * Rethrows an SDK error as the one-line ExitError a user can act on, when it is one: missing
 * credentials, an endpoint that does not answer, access denied. Anything else is returned as is.
 */
export function userFacing(err: unknown, what: string): unknown {
  const kind = classifyAwsError(err);
  const message = (err as Error)?.message ?? String(err);
  if (kind === 'credentials') {
    return new ExitError(`${what}: no valid AWS credentials (${awsErrorCode(err)})`, 1, 'export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run `aws configure`');
  }
  if (kind === 'unreachable') {
    return new ExitError(`${what}: the AWS endpoint does not answer (${message.split('\n')[0]})`, 1, 'check AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_SSM and your network');
  }
  if (/UnauthorizedOperation|AccessDenied/.test(awsErrorCode(err))) {
    return new ExitError(`${what}: access denied (${awsErrorCode(err)})`, 1, 'the credentials need EC2 and SSM permissions (see the README)');
  }
  return err;
}

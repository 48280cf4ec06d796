// The emulator's public contract (see index.ts): options, the instance snapshot, the call log,
// fault injection. The aws provider's tests are written against exactly these shapes.

export interface EmulatorOptions {
  /** Root for per-instance dirs (default: a fresh temp dir, removed on stop). */
  dir?: string;
  /** Default 'us-east-1'; AZs `${region}a`, `${region}b`, `${region}c`. */
  region?: string;
  /** pending → running (default 300). */
  pendingMs?: number;
  /** After running, until SSM accepts commands for it (default 200); before that SendCommand → InvalidInstanceId. */
  agentOnlineMs?: number;
  /** shutting-down → terminated (default 300). */
  shuttingDownMs?: number;
  /** PrivateIpAddress of every instance (default '127.0.0.1', so DDP between emulated instances works). */
  privateIp?: string;
  /** Extra env for every SSM command process (the tests pass S3 endpoint + credentials here). */
  instanceEnv?: Record<string, string>;
  /** instanceType → USD/h spot price, merged over the defaults (t3.micro, c5.large, g5.xlarge, g5.12xlarge, p4d.24xlarge). */
  spotPrices?: Record<string, number>;
  /** SSM parameters (GetParameter), merged over the default AMI aliases. */
  parameters?: Record<string, string>;
}

export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated';
export type Market = 'spot' | 'on-demand';

export interface EmulatedInstance {
  id: string;
  state: InstanceState;
  instanceType: string;
  market: Market;
  az: string;
  imageId: string;
  /** Instance tags (TagSpecification ResourceType=instance, then CreateTags). */
  tags: Record<string, string>;
  /** Tags given with TagSpecification ResourceType=volume. */
  volumeTags: Record<string, string>;
  launchTime: string;
  privateIp: string;
  clientToken?: string;
  /** The instance's directory (HOME and cwd of its SSM command processes). */
  dir: string;
  /** http://127.0.0.1:PORT — this instance's own IMDS; '' for a seeded instance until its first SSM command. */
  imdsEndpoint: string;
  placementGroup?: string;
  /** UserData decoded from the base64 that RunInstances carries. */
  userData?: string;
  subnetId?: string;
  securityGroupIds: string[];
  keyName?: string;
  /** The IamInstanceProfile as given (Name or Arn). */
  iamInstanceProfile?: string;
  /** Spot MaxPrice as given. */
  spotMaxPrice?: string;
  /** Why it stopped: 'Client.UserInitiatedShutdown' or 'Server.SpotInstanceTermination'. */
  stateReason?: string;
}

/**
 * One API request. `params` for EC2 is the Query request unflattened (numbered members become arrays:
 * `{ ImageId, TagSpecification: [{ ResourceType, Tag: [{ Key, Value }] }], InstanceId: ['i-…'] }`, wire names,
 * values as strings), for SSM the JSON body, for IMDS `{ instanceId, method }` with action = the path.
 */
export interface ApiCall {
  service: 'ec2' | 'ssm' | 'imds';
  action: string;
  params: Record<string, unknown>;
  /** The error code answered, if any. */
  error?: string;
  at: number;
}

export interface CapacityRule { market?: Market; instanceType?: string; az?: string; code?: string; times?: number }
export interface ThrottleRule { service?: 'ec2' | 'ssm'; action?: string; times: number }
export interface SsmFailureRule { instanceId?: string; times: number; status?: 'Failed' | 'Undeliverable' }

export interface Faults {
  /** RunInstances fails with `code` (default InsufficientInstanceCapacity) for matching requests, `times` times (default: until cleared). */
  capacity(rule: CapacityRule): void;
  /** The next `times` requests (of `action`, or any) fail with RequestLimitExceeded (EC2, HTTP 503) / ThrottlingException (SSM, HTTP 400). */
  throttle(rule: ThrottleRule): void;
  /**
   * Spot interruption: IMDS spot/instance-action answers at once with {"action":"terminate","time":<now+noticeMs>}
   * (default noticeMs 2000); at that time the instance goes shutting-down (SIGTERM), SIGKILL at terminated.
   */
  interrupt(instanceId: string, opts?: { noticeMs?: number }): void;
  /** The next `times` SendCommand calls (for instanceId or any) are accepted but the invocation ends Failed/Undeliverable without running. */
  ssmFailure(rule: SsmFailureRule): void;
  /** Override pendingMs for instances launched from now on. */
  slowPending(ms: number): void;
  /** Drops every rule and the slowPending override; interruptions already announced still happen (as on AWS). */
  clear(): void;
}

export interface SeedOptions {
  state?: 'running' | 'pending';
  instanceType?: string;
  market?: Market;
  az?: string;
}

export interface Emulator {
  ec2Endpoint: string;
  ssmEndpoint: string;
  region: string;
  /** Env for a CLI/SDK process: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_SSM, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_DEFAULT_REGION (=region). */
  env: Record<string, string>;
  /** The extra env of every SSM command process (options.instanceEnv); changes apply to commands sent afterwards. */
  instanceEnv: Record<string, string>;
  /** Snapshot of every instance ever launched, in launch order. */
  instances(): EmulatedInstance[];
  /** Every API request in order (for asserting idempotency, paging, retries). */
  calls: ApiCall[];
  faults: Faults;
  /**
   * Adds N managed-looking instances straight into state (for the 10,000-instance plan benchmark). They stay in the
   * given state (no timers); SSM commands work on running ones, their IMDS starts with the first command.
   */
  seed(n: number, tags: (i: number) => Record<string, string>, opts?: SeedOptions): void;
  /** Kills every instance's processes, closes servers, removes a temp dir it made. */
  stop(): Promise<void>;
}

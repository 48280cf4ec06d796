// SSM over JSON 1.1 (X-Amz-Target: AmazonSSM.<Op>): Run Command with AWS-RunShellScript executed as
// real local processes of the instance, the invocation statuses and output limits AWS reports, and
// Parameter Store reads for AMI aliases.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { readBody, signedRegion } from './http.js';
import { privateDnsName } from './imds.js';
import { INSTANCE_ENV } from './processes.js';
import { ACCOUNT_ID, ApiError, type InstanceRecord, type World } from './world.js';
import type { ApiCall } from './types.js';

// AWS's limits on what GetCommandInvocation and ListCommandInvocations(Details) return
const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const PLUGIN_OUTPUT_LIMIT = 2_500;
/** What the Linux agent reports for a command it killed (timeout, cancel): 128 + SIGKILL. */
const STOPPED_PREEMPTIVELY = 137;

type Status = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

interface Invocation {
  instanceId: string;
  status: Status;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  start?: Date;
  end?: Date;
  pgid?: number;
  /** Why the agent killed it, which decides the final status. */
  stoppedBy?: 'timeout' | 'cancel';
}

interface Command {
  id: string;
  comment: string;
  parameters: Record<string, string[]>;
  requestedAt: Date;
  timeoutSeconds: number;
  executionTimeoutS: number;
  invocations: Invocation[];
}

type Json = Record<string, unknown>;

export function ssmHandler(world: World) {
  const commands: Command[] = [];
  const ops: Record<string, (ctx: Ctx, input: Json) => Promise<Json> | Json> = {
    SendCommand: (ctx, input) => sendCommand(ctx, commands, input),
    GetCommandInvocation: (ctx, input) => getCommandInvocation(ctx, commands, input),
    ListCommandInvocations: (ctx, input) => listCommandInvocations(ctx, commands, input),
    ListCommands: (ctx, input) => listCommands(ctx, commands, input),
    CancelCommand: (ctx, input) => cancelCommand(ctx, commands, input),
    GetParameter: getParameter,
    GetParameters: getParameters,
    DescribeInstanceInformation: describeInstanceInformation,
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    // a client that hangs up mid-request gets nothing more; the emulator keeps serving
    handle(world, ops, req, res).catch(() => res.destroy());
  };
}

interface Ctx { world: World; home: boolean }

async function handle(world: World, ops: Record<string, (ctx: Ctx, input: Json) => Promise<Json> | Json>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = String(req.headers['x-amz-target'] ?? '');
  const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : target;
  const text = await readBody(req);
  const call: ApiCall = { service: 'ssm', action: op, params: {}, at: Date.now() };
  world.calls.push(call);
  let status = 200;
  let out: Json;
  try {
    try {
      const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      call.params = parsed as Json;
    } catch {
      throw new ApiError('SerializationException', 'Request body is not a JSON object');
    }
    const region = signedRegion(req);
    if (!region) throw new ApiError('MissingAuthenticationTokenException', 'Missing Authentication Token');
    if (world.takeThrottle('ssm', op)) throw new ApiError('ThrottlingException', 'Rate exceeded');
    const run = ops[op];
    if (!run) throw new ApiError('UnknownOperationException', `Unknown operation ${target}`);
    out = await run({ world, home: region === world.opts.region }, call.params);
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError('InternalServerError', `emulator bug: ${(e as Error).stack ?? String(e)}`, 500);
    call.error = err.code;
    status = err.status;
    out = { __type: err.code, message: err.message };
  }
  const body = JSON.stringify(out);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

const epoch = (d: Date): number => d.getTime() / 1000;

function stringList(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ApiError('ValidationException', `${name} must be a list of strings`);
  return v;
}

function page<T>(items: T[], input: Json, max: number): { items: T[]; NextToken?: string } {
  const size = typeof input.MaxResults === 'number' ? input.MaxResults : max;
  if (size < 1 || size > max) throw new ApiError('ValidationException', `1 validation error detected: Value '${size}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${max}`);
  const start = typeof input.NextToken === 'string' ? Number(Buffer.from(input.NextToken, 'base64url').toString()) : 0;
  if (!Number.isInteger(start) || start < 0) throw new ApiError('InvalidNextToken', 'The specified token is not valid.');
  const next = start + size;
  return { items: items.slice(start, next), ...(next < items.length ? { NextToken: Buffer.from(String(next)).toString('base64url') } : {}) };
}

// ---- Run Command

const ALLOWED_PARAMETERS = new Set(['commands', 'workingDirectory', 'executionTimeout']);

async function sendCommand(ctx: Ctx, commands: Command[], input: Json): Promise<Json> {
  const { world } = ctx;
  if (input.DocumentName !== 'AWS-RunShellScript') {
    throw new ApiError('InvalidDocument', `Document with name ${String(input.DocumentName)} does not exist (the emulator runs AWS-RunShellScript only).`);
  }
  const instanceIds = stringList(input.InstanceIds, 'InstanceIds') ?? [];
  if (instanceIds.length === 0) throw new ApiError('ValidationException', 'InstanceIds is required (the emulator does not resolve Targets).');
  if (instanceIds.length > 50) throw new ApiError('ValidationException', 'Member must have length less than or equal to 50');
  const parameters: Record<string, string[]> = {};
  for (const [k, v] of Object.entries((input.Parameters ?? {}) as Json)) {
    if (!ALLOWED_PARAMETERS.has(k)) throw new ApiError('InvalidParameters', `Parameter "${k}" is not valid for document AWS-RunShellScript.`);
    parameters[k] = stringList(v, `Parameters.${k}`)!;
  }
  if (!parameters.commands?.length) throw new ApiError('InvalidParameters', 'Parameter "commands" is required.');
  const executionTimeoutS = Number(parameters.executionTimeout?.[0] ?? 3600);
  if (!Number.isInteger(executionTimeoutS) || executionTimeoutS < 1 || executionTimeoutS > 172800) {
    throw new ApiError('InvalidParameters', `executionTimeout must be a whole number of seconds from 1 to 172800, not ${String(parameters.executionTimeout?.[0])}.`);
  }
  const now = Date.now();
  const targets = instanceIds.map((id) => (ctx.home ? world.byId.get(id) : undefined));
  const unusable = instanceIds.filter((_, i) => {
    const inst = targets[i];
    return !inst || inst.state !== 'running' || inst.agentOnlineAt > now;
  });
  if (unusable.length > 0) throw new ApiError('InvalidInstanceId', `Instances [[${unusable.join(', ')}]] not in a valid state for account ${ACCOUNT_ID}`);

  const command: Command = {
    id: randomUUID(), comment: typeof input.Comment === 'string' ? input.Comment : '', parameters, requestedAt: new Date(now),
    timeoutSeconds: typeof input.TimeoutSeconds === 'number' ? input.TimeoutSeconds : 3600, executionTimeoutS,
    invocations: instanceIds.map((instanceId) => ({ instanceId, status: 'Pending', statusDetails: 'Pending', responseCode: -1, stdout: '', stderr: '' })),
  };
  commands.push(command);
  // AWS answers before the agent has picked the command up
  const answer = { Command: commandJson(world, command) };
  const failure = world.takeSsmFailure(instanceIds);
  await Promise.all(command.invocations.map(async (inv, i) => {
    const inst = targets[i]!;
    if (failure && (failure.instanceId === undefined || failure.instanceId === inst.id)) {
      // accepted, then never run: Undeliverable is a StatusDetails of a Failed invocation, as AWS reports it
      world.schedule(100, () => finish(inv, 'Failed', failure.status === 'Undeliverable' ? 'Undeliverable' : 'Failed', -1));
      return;
    }
    await world.ensureImds(inst); // seeded instances get theirs on first use
    execute(world, inst, command, inv);
  }));
  return answer;
}

function finish(inv: Invocation, status: Status, statusDetails: string, responseCode: number, stdout = '', stderr = ''): void {
  Object.assign(inv, { status, statusDetails, responseCode, stdout, stderr, end: new Date() });
}

/**
 * Runs the script as the agent does: `bash -c` in its own process group, output to files (so a background process
 * that keeps writing after the script exits harms nothing), done when bash exits, not when its output closes.
 */
function execute(world: World, inst: InstanceRecord, command: Command, inv: Invocation): void {
  mkdirSync(inst.dir, { recursive: true });
  const outDir = join(world.opts.dir, '.ssm-agent', inst.id, command.id);
  mkdirSync(outDir, { recursive: true });
  const cwd = resolve(inst.dir, command.parameters.workingDirectory?.[0] ?? '.');
  if (!isDir(cwd)) return finish(inv, 'Failed', 'Failed', 1, '', `Failed to run commands: workingDirectory ${cwd} does not exist`);
  const stdoutPath = join(outDir, 'stdout');
  const stderrPath = join(outDir, 'stderr');
  const outFd = openSync(stdoutPath, 'w');
  const errFd = openSync(stderrPath, 'w');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: inst.dir,
    ...world.opts.instanceEnv,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: inst.imdsEndpoint,
    [INSTANCE_ENV]: inst.id,
  };
  const child = spawn('bash', ['-c', command.parameters.commands!.join('\n')], { cwd, env, detached: true, stdio: ['ignore', outFd, errFd] });
  closeSync(outFd);
  closeSync(errFd);
  inst.spawned = true;
  if (child.pid !== undefined) inst.groups.add(child.pid);
  Object.assign(inv, { status: 'InProgress', statusDetails: 'InProgress', start: new Date(), pgid: child.pid });
  world.schedule(command.executionTimeoutS * 1000, () => {
    if (inv.status !== 'InProgress' || inv.pgid === undefined) return;
    inv.stoppedBy = 'timeout';
    killGroup(inv.pgid);
  });
  child.on('error', (e) => finish(inv, 'Failed', 'Failed', 1, '', e.message));
  child.on('exit', (code, signal) => {
    // after stop() its files may be gone with the emulator's temp dir
    if (inv.status !== 'InProgress' || world.isStopped) return;
    const stdout = readHead(stdoutPath, STDOUT_LIMIT);
    const stderr = readHead(stderrPath, STDERR_LIMIT);
    if (inv.stoppedBy === 'timeout') return finish(inv, 'TimedOut', 'ExecutionTimedOut', STOPPED_PREEMPTIVELY, stdout, stderr);
    if (inv.stoppedBy === 'cancel') return finish(inv, 'Cancelled', 'Cancelled', STOPPED_PREEMPTIVELY, stdout, stderr);
    const rc = signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1);
    finish(inv, rc === 0 ? 'Success' : 'Failed', rc === 0 ? 'Success' : 'Failed', rc, stdout, stderr);
  });
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The first `chars` characters of a file (reading only as many bytes as that many UTF-8 characters can take). */
function readHead(path: string, chars: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(chars * 4 + 4);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8').slice(0, chars);
  } finally {
    closeSync(fd);
  }
}

function aggregateStatus(c: Command): Status {
  const s = c.invocations.map((i) => i.status);
  if (s.every((x) => x === 'Pending')) return 'Pending';
  if (s.some((x) => x === 'Pending' || x === 'InProgress')) return 'InProgress';
  if (s.every((x) => x === 'Success')) return 'Success';
  if (s.includes('Cancelled')) return 'Cancelled';
  if (s.includes('TimedOut')) return 'TimedOut';
  return 'Failed';
}

function commandJson(world: World, c: Command): Json {
  const status = aggregateStatus(c);
  const done = c.invocations.filter((i) => i.status !== 'Pending' && i.status !== 'InProgress');
  return {
    CommandId: c.id, DocumentName: 'AWS-RunShellScript', DocumentVersion: '$DEFAULT', Comment: c.comment,
    ExpiresAfter: epoch(c.requestedAt) + c.timeoutSeconds + c.executionTimeoutS, Parameters: c.parameters,
    InstanceIds: c.invocations.map((i) => i.instanceId), Targets: [], RequestedDateTime: epoch(c.requestedAt),
    Status: status, StatusDetails: status, OutputS3Region: world.opts.region, OutputS3BucketName: '', OutputS3KeyPrefix: '',
    MaxConcurrency: '50', MaxErrors: '0', TargetCount: c.invocations.length, CompletedCount: done.length,
    ErrorCount: done.filter((i) => i.status !== 'Success').length, DeliveryTimedOutCount: 0, ServiceRole: '',
    NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false }, TimeoutSeconds: c.timeoutSeconds,
  };
}

function findInvocation(commands: Command[], commandId: unknown, instanceId: unknown): { command: Command; inv: Invocation } {
  const command = commands.find((c) => c.id === commandId);
  const inv = command?.invocations.find((i) => i.instanceId === instanceId);
  if (!command || !inv) throw new ApiError('InvocationDoesNotExist', 'An invocation for this command and instance does not exist.');
  return { command, inv };
}

function getCommandInvocation(_ctx: Ctx, commands: Command[], input: Json): Json {
  if (typeof input.CommandId !== 'string' || typeof input.InstanceId !== 'string') throw new ApiError('ValidationException', 'CommandId and InstanceId are required');
  const { command, inv } = findInvocation(commands, input.CommandId, input.InstanceId);
  const elapsed = inv.start ? ((inv.end ?? new Date()).getTime() - inv.start.getTime()) / 1000 : undefined;
  return {
    CommandId: command.id, InstanceId: inv.instanceId, Comment: command.comment, DocumentName: 'AWS-RunShellScript', DocumentVersion: '$DEFAULT',
    PluginName: 'aws:runShellScript', ResponseCode: inv.responseCode,
    ExecutionStartDateTime: inv.start?.toISOString() ?? '', ExecutionElapsedTime: elapsed === undefined ? '' : `PT${elapsed.toFixed(3)}S`,
    ExecutionEndDateTime: inv.end?.toISOString() ?? '', Status: inv.status, StatusDetails: inv.statusDetails,
    StandardOutputContent: inv.stdout, StandardOutputUrl: '', StandardErrorContent: inv.stderr, StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

function listCommandInvocations(_ctx: Ctx, commands: Command[], input: Json): Json {
  const all = [...commands].reverse() // newest first, as AWS lists them
    .filter((c) => input.CommandId === undefined || c.id === input.CommandId)
    .flatMap((c) => c.invocations.filter((i) => input.InstanceId === undefined || i.instanceId === input.InstanceId).map((inv) => ({ c, inv })));
  const { items, NextToken } = page(all, input, 50);
  return {
    CommandInvocations: items.map(({ c, inv }) => ({
      CommandId: c.id, InstanceId: inv.instanceId, InstanceName: '', Comment: c.comment, DocumentName: 'AWS-RunShellScript', DocumentVersion: '$DEFAULT',
      RequestedDateTime: epoch(c.requestedAt), Status: inv.status, StatusDetails: inv.statusDetails, TraceOutput: '',
      StandardOutputUrl: '', StandardErrorUrl: '', ServiceRole: '',
      CommandPlugins: input.Details !== true ? [] : [{
        Name: 'aws:runShellScript', Status: inv.status, StatusDetails: inv.statusDetails, ResponseCode: inv.responseCode,
        ...(inv.start ? { ResponseStartDateTime: epoch(inv.start) } : {}), ...(inv.end ? { ResponseFinishDateTime: epoch(inv.end) } : {}),
        Output: (inv.stdout + (inv.stderr ? `\n----------ERROR-------\n${inv.stderr}` : '')).slice(0, PLUGIN_OUTPUT_LIMIT),
        StandardOutputUrl: '', StandardErrorUrl: '', OutputS3Region: '', OutputS3BucketName: '', OutputS3KeyPrefix: '',
      }],
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    })),
    ...(NextToken ? { NextToken } : {}),
  };
}

function listCommands(ctx: Ctx, commands: Command[], input: Json): Json {
  const all = [...commands].reverse().filter((c) => (input.CommandId === undefined || c.id === input.CommandId)
    && (input.InstanceId === undefined || c.invocations.some((i) => i.instanceId === input.InstanceId)));
  const { items, NextToken } = page(all, input, 50);
  return { Commands: items.map((c) => commandJson(ctx.world, c)), ...(NextToken ? { NextToken } : {}) };
}

function cancelCommand(_ctx: Ctx, commands: Command[], input: Json): Json {
  const command = commands.find((c) => c.id === input.CommandId);
  if (!command) throw new ApiError('InvalidCommandId', 'The command ID is not valid.');
  const only = stringList(input.InstanceIds, 'InstanceIds');
  for (const inv of command.invocations) {
    if (only && !only.includes(inv.instanceId)) continue;
    if (inv.status === 'Pending') finish(inv, 'Cancelled', 'Cancelled', -1);
    if (inv.status === 'InProgress' && inv.pgid !== undefined) {
      inv.stoppedBy = 'cancel';
      killGroup(inv.pgid);
    }
  }
  return {};
}

// ---- Parameter Store and fleet

function parameterJson(world: World, name: string, value: string): Json {
  return {
    Name: name, Type: 'String', Value: value, Version: 1, LastModifiedDate: 1_700_000_000,
    ARN: `arn:aws:ssm:${world.opts.region}::parameter${name.startsWith('/') ? '' : '/'}${name}`,
    DataType: value.startsWith('ami-') ? 'aws:ec2:image' : 'text',
  };
}

function getParameter(ctx: Ctx, input: Json): Json {
  const name = input.Name;
  if (typeof name !== 'string' || name === '') throw new ApiError('ValidationException', 'Name is required');
  const value = ctx.world.opts.parameters[name];
  if (value === undefined) throw new ApiError('ParameterNotFound', `Parameter ${name} not found.`);
  return { Parameter: parameterJson(ctx.world, name, value) };
}

function getParameters(ctx: Ctx, input: Json): Json {
  const names = stringList(input.Names, 'Names') ?? [];
  const known = names.filter((n) => ctx.world.opts.parameters[n] !== undefined);
  return { Parameters: known.map((n) => parameterJson(ctx.world, n, ctx.world.opts.parameters[n]!)), InvalidParameters: names.filter((n) => !known.includes(n)) };
}

/** The managed instances the agent has registered: Online while running, ConnectionLost while shutting down. */
function describeInstanceInformation(ctx: Ctx, input: Json): Json {
  const wanted = new Set<string>();
  for (const f of (input.Filters ?? []) as { Key?: string; Values?: string[] }[]) if (f.Key === 'InstanceIds') for (const v of f.Values ?? []) wanted.add(v);
  for (const f of (input.InstanceInformationFilterList ?? []) as { key?: string; valueSet?: string[] }[]) if (f.key === 'InstanceIds') for (const v of f.valueSet ?? []) wanted.add(v);
  const now = Date.now();
  const registered = (ctx.home ? ctx.world.instances : []).filter((i) => (wanted.size === 0 || wanted.has(i.id))
    && ((i.state === 'running' && i.agentOnlineAt <= now) || i.state === 'shutting-down'));
  const { items, NextToken } = page(registered, input, 50);
  return {
    InstanceInformationList: items.map((i) => ({
      InstanceId: i.id, PingStatus: i.state === 'running' ? 'Online' : 'ConnectionLost', LastPingDateTime: epoch(new Date(now)),
      AgentVersion: '3.3.0.0', IsLatestVersion: true, PlatformType: 'Linux', PlatformName: 'Ubuntu', PlatformVersion: '22.04',
      ResourceType: 'EC2Instance', IPAddress: i.privateIp, ComputerName: privateDnsName(i.privateIp),
    })),
    ...(NextToken ? { NextToken } : {}),
  };
}

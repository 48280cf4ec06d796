// The EC2 Query API (form-encoded POST, XML answers in the 2016-11-15 namespace) as the SDK's ec2
// protocol and botocore serialize and parse it: instances, tags, placement groups, spot prices.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, signedRegion } from './http.js';
import { privateDnsName } from './imds.js';
import { ACCOUNT_ID, ApiError, STATE_CODES, hexId, type InstanceRecord, type PlacementGroupRecord, type World } from './world.js';
import type { ApiCall, Market } from './types.js';

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

// ---- the Query wire format

type Params = Record<string, unknown>;

/** `TagSpecification.1.Tag.2.Key=v` → `{ TagSpecification: [{ Tag: [_, { Key: 'v' }] }] }`; numbered members become arrays in index order. */
export function unflatten(form: URLSearchParams): Params {
  interface Tree { [k: string]: Tree | string }
  const root: Tree = {};
  for (const [key, value] of form) {
    if (key === 'Action' || key === 'Version') continue;
    const parts = key.split('.');
    let node = root;
    for (const p of parts.slice(0, -1)) {
      if (typeof node[p] !== 'object') node[p] = {};
      node = node[p] as Tree;
    }
    node[parts.at(-1)!] = value;
  }
  const arrays = (n: Tree | string): unknown => {
    if (typeof n === 'string') return n;
    const entries = Object.entries(n).map(([k, v]) => [k, arrays(v)] as const);
    if (entries.length > 0 && entries.every(([k]) => /^\d+$/.test(k))) return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v);
    return Object.fromEntries(entries);
  };
  return arrays(root) as Params;
}

function at(p: unknown, ...path: string[]): unknown {
  let v = p;
  for (const k of path) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Params)[k] : undefined;
  return v;
}
function str(p: unknown, ...path: string[]): string | undefined {
  const v = at(p, ...path);
  return typeof v === 'string' ? v : undefined;
}
function strings(p: unknown, key: string): string[] {
  const v = at(p, key);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
function structs(p: unknown, key: string): Params[] {
  const v = at(p, key);
  return Array.isArray(v) ? v.filter((x): x is Params => x !== null && typeof x === 'object' && !Array.isArray(x)) : [];
}
function int(p: unknown, key: string): number | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new ApiError('InvalidParameterValue', `Invalid value '${v}' for ${key}.`);
  return Number(v);
}

type XmlValue = string | number | boolean | undefined | XmlValue[] | { [k: string]: XmlValue };

/** Objects become elements, arrays become `<item>` lists (EC2's list shape), undefined is left out. */
function xml(v: XmlValue): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.map((x) => `<item>${xml(x)}</item>`).join('');
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => (x === undefined ? '' : `<${k}>${xml(x)}</${k}>`)).join('');
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---- the server

interface Ctx { world: World; region: string; home: boolean }
type Action = (ctx: Ctx, p: Params) => Promise<Record<string, XmlValue>> | Record<string, XmlValue>;

export function ec2Handler(world: World) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    // a client that hangs up mid-request gets nothing more; the emulator keeps serving
    handle(world, req, res).catch(() => res.destroy());
  };
}

async function handle(world: World, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = new URLSearchParams(await readBody(req));
  for (const [k, v] of new URL(req.url ?? '/', 'http://x').searchParams) form.append(k, v);
  const action = form.get('Action') ?? '';
  const requestId = randomUUID();
  const call: ApiCall = { service: 'ec2', action, params: unflatten(form), at: Date.now() };
  world.calls.push(call);
  let status = 200;
  let body: string;
  try {
    const region = signedRegion(req);
    if (!region) throw new ApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
    if (world.takeThrottle('ec2', action)) throw new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    const run = ACTIONS[action];
    if (!run) throw new ApiError('InvalidAction', `The action ${action} is not valid for this web service.`);
    const out = await run({ world, region, home: region === world.opts.region }, call.params);
    body = `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}"><requestId>${requestId}</requestId>${xml(out)}</${action}Response>`;
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError('InternalError', `emulator bug: ${(e as Error).stack ?? String(e)}`, 500);
    call.error = err.code;
    status = err.status;
    body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xml(err.code)}</Code><Message>${xml(err.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  }
  res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': requestId });
  res.end(body);
}

/** Writes are refused outside the emulator's region; reads there see an empty account. */
function requireHome(ctx: Ctx): void {
  if (!ctx.home) throw new ApiError('UnauthorizedOperation', `This emulator serves region ${ctx.world.opts.region}; the request was signed for ${ctx.region}.`, 403);
}

const ACTIONS: Record<string, Action> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  TerminateInstances: terminateInstances,
  CreateTags: createTags,
  CreatePlacementGroup: createPlacementGroup,
  DescribePlacementGroups: describePlacementGroups,
  DeletePlacementGroup: deletePlacementGroup,
  DescribeSpotPriceHistory: describeSpotPriceHistory,
  DescribeInstanceTypes: describeInstanceTypes,
  DescribeAvailabilityZones: describeAvailabilityZones,
};

// ---- instances

const INSTANCE_ID = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;
const TAG_RESOURCE_TYPES = new Set(['instance', 'volume', 'network-interface', 'spot-instances-request', 'placement-group']);

function parseTags(list: Params[]): Record<string, string> {
  const tags: Record<string, string> = {};
  if (list.length > 50) throw new ApiError('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.');
  for (const t of list) {
    const key = str(t, 'Key');
    const value = str(t, 'Value') ?? '';
    if (!key) throw new ApiError('InvalidParameterValue', 'Tag key must not be empty.');
    if (key.length > 128 || value.length > 256) throw new ApiError('InvalidParameterValue', `Tag key or value too long: '${key.slice(0, 40)}…'.`);
    if (key.startsWith('aws:')) throw new ApiError('InvalidParameterValue', "Tag keys starting with 'aws:' are reserved for internal use");
    if (key in tags) throw new ApiError('InvalidParameterValue', `Duplicate tag key '${key}' specified.`);
    tags[key] = value;
  }
  return tags;
}

const CAPACITY_MESSAGES: Record<string, (type: string, az: string, others: string) => string> = {
  InsufficientInstanceCapacity: (type, az, others) => `We currently do not have sufficient ${type} capacity in the Availability Zone you requested (${az}). Our system will be working on provisioning additional capacity. You can currently get ${type} capacity by not specifying an Availability Zone in your request or choosing ${others}.`,
  InsufficientHostCapacity: () => 'There is not enough capacity to fulfill your Dedicated Host request.',
  MaxSpotInstanceCountExceeded: () => 'Max spot instance count exceeded',
  SpotMaxPriceTooLow: (type) => `Your Spot request price is lower than the minimum required Spot request fulfillment price for ${type}.`,
  UnfulfillableCapacity: () => 'Unable to fulfill capacity due to your request configuration. Please adjust your request and try again.',
  Unsupported: () => 'The requested configuration is currently not supported. Please check the documentation for supported configurations.',
};

async function runInstances(ctx: Ctx, p: Params): Promise<Record<string, XmlValue>> {
  requireHome(ctx);
  const { world } = ctx;
  const imageId = str(p, 'ImageId');
  if (!imageId) throw new ApiError('MissingParameter', 'The request must contain the parameter ImageId');
  if (!/^ami-[0-9a-f]{8}([0-9a-f]{9})?$/.test(imageId)) throw new ApiError('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
  const instanceType = str(p, 'InstanceType') ?? 'm1.small';
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) throw new ApiError('InvalidParameterValue', `Invalid value '${instanceType}' for InstanceType.`);
  const min = int(p, 'MinCount');
  const max = int(p, 'MaxCount');
  if (min === undefined) throw new ApiError('MissingParameter', 'The request must contain the parameter MinCount');
  if (max === undefined) throw new ApiError('MissingParameter', 'The request must contain the parameter MaxCount');
  if (min < 1 || max < min || max > 1000) throw new ApiError('InvalidParameterValue', `Invalid MinCount/MaxCount: ${min}/${max}.`);

  const marketType = str(p, 'InstanceMarketOptions', 'MarketType');
  if (marketType !== undefined && marketType !== 'spot') throw new ApiError('InvalidParameterValue', `Invalid value '${marketType}' for MarketType.`);
  const market: Market = marketType === 'spot' ? 'spot' : 'on-demand';
  const spotMaxPrice = str(p, 'InstanceMarketOptions', 'SpotOptions', 'MaxPrice');
  if (spotMaxPrice !== undefined && !(Number(spotMaxPrice) > 0)) throw new ApiError('InvalidParameterValue', `Invalid value '${spotMaxPrice}' for MaxPrice.`);

  const groupName = str(p, 'Placement', 'GroupName');
  if (groupName !== undefined && !world.placementGroups.has(groupName)) throw new ApiError('InvalidPlacementGroup.Unknown', `The Placement Group '${groupName}' is unknown.`);
  const requestedAz = str(p, 'Placement', 'AvailabilityZone');
  if (requestedAz !== undefined && !world.azs.includes(requestedAz)) throw new ApiError('InvalidParameterValue', `Invalid availability zone: [${requestedAz}]`);
  // a cluster placement group lives in one AZ: follow its live members
  const groupAz = groupName === undefined ? undefined : world.instances.find((i) => i.placementGroup === groupName && i.state !== 'terminated')?.az;
  const az = requestedAz ?? groupAz ?? world.azs[0]!;

  let tags: Record<string, string> = {};
  let volumeTags: Record<string, string> = {};
  for (const spec of structs(p, 'TagSpecification')) {
    const type = str(spec, 'ResourceType') ?? '';
    if (!TAG_RESOURCE_TYPES.has(type)) throw new ApiError('InvalidParameterValue', `'${type}' is not a valid taggable resource type for this operation.`);
    const parsed = parseTags(structs(spec, 'Tag'));
    if (type === 'instance') tags = { ...tags, ...parsed };
    if (type === 'volume') volumeTags = { ...volumeTags, ...parsed };
  }

  const rawUserData = str(p, 'UserData');
  let userData: string | undefined;
  if (rawUserData !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(rawUserData) || rawUserData.length % 4 !== 0) throw new ApiError('InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
    const bytes = Buffer.from(rawUserData, 'base64');
    if (bytes.length > 16384) throw new ApiError('InvalidParameterValue', 'User data is limited to 16384 bytes');
    userData = bytes.toString('utf8');
  }

  const clientToken = str(p, 'ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) throw new ApiError('InvalidParameterValue', 'ClientToken is longer than 64 characters.');
  // AWS compares the whole request: the same token with other parameters is a caller bug
  const request = JSON.stringify(Object.entries(flatten(p)).filter(([k]) => k !== 'ClientToken').sort(([a], [b]) => a.localeCompare(b)));
  if (clientToken !== undefined) {
    const seen = world.clientTokens.get(clientToken);
    if (seen && seen.request !== request) throw new ApiError('IdempotentParameterMismatch', `Arguments on this idempotent request are inconsistent with arguments used in previous request(s).`);
    if (seen) {
      const earlier = seen.ids.map((id) => world.byId.get(id)!);
      await Promise.all(earlier.map((i) => i.imdsStarting));
      return reservation(world, seen.reservationId, earlier);
    }
  }

  if (market === 'spot' && spotMaxPrice !== undefined && Number(spotMaxPrice) < world.spotPrice(instanceType)) {
    throw new ApiError('SpotMaxPriceTooLow', `Your Spot request price of ${spotMaxPrice} is lower than the minimum required Spot request fulfillment price of ${world.spotPrice(instanceType)}.`);
  }
  const fault = world.takeCapacityFault(market, instanceType, az);
  if (fault) {
    const others = world.azs.filter((z) => z !== az).join(', ');
    throw new ApiError(fault, (CAPACITY_MESSAGES[fault] ?? (() => `${fault} (emulated capacity fault)`))(instanceType, az, others));
  }

  const profile = str(p, 'IamInstanceProfile', 'Arn') ?? str(p, 'IamInstanceProfile', 'Name');
  const launched = world.launch({
    imageId, instanceType, market, az, count: max, tags, volumeTags, securityGroupIds: strings(p, 'SecurityGroupId'),
    metadataTags: str(p, 'MetadataOptions', 'InstanceMetadataTags') === 'enabled',
    ...(clientToken !== undefined ? { clientToken } : {}),
    ...(groupName !== undefined ? { placementGroup: groupName } : {}),
    ...(userData !== undefined ? { userData } : {}),
    ...(str(p, 'SubnetId') !== undefined ? { subnetId: str(p, 'SubnetId')! } : {}),
    ...(str(p, 'KeyName') !== undefined ? { keyName: str(p, 'KeyName')! } : {}),
    ...(profile !== undefined ? { iamInstanceProfile: profile } : {}),
    ...(spotMaxPrice !== undefined ? { spotMaxPrice } : {}),
  });
  if (clientToken !== undefined) world.clientTokens.set(clientToken, { request, reservationId: launched.reservationId, ids: launched.instances.map((i) => i.id) });
  await launched.ready;
  return reservation(world, launched.reservationId, launched.instances);
}

function flatten(v: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (typeof v === 'string') out[prefix] = v;
  else if (Array.isArray(v)) v.forEach((x, i) => flatten(x, `${prefix}.${i + 1}`, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

function reservation(world: World, reservationId: string, instances: InstanceRecord[]): Record<string, XmlValue> {
  return { reservationId, ownerId: ACCOUNT_ID, groupSet: [], instancesSet: instances.map((i) => instanceXml(world, i)) };
}

function instanceXml(world: World, inst: InstanceRecord): XmlValue {
  const spot = inst.market === 'spot';
  const profile = inst.iamInstanceProfile;
  return {
    instanceId: inst.id,
    imageId: inst.imageId,
    instanceState: { code: STATE_CODES[inst.state], name: inst.state },
    privateDnsName: inst.state === 'terminated' ? '' : privateDnsName(inst.privateIp),
    dnsName: '',
    reason: inst.stateTransitionReason,
    keyName: inst.keyName,
    amiLaunchIndex: inst.launchIndex,
    productCodes: [],
    instanceType: inst.instanceType,
    launchTime: inst.launchTime,
    placement: { availabilityZone: inst.az, groupName: inst.placementGroup ?? '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: inst.subnetId,
    vpcId: inst.subnetId === undefined ? undefined : 'vpc-0emulator0000000',
    privateIpAddress: inst.state === 'terminated' ? undefined : inst.privateIp,
    sourceDestCheck: true,
    groupSet: inst.securityGroupIds.map((id) => ({ groupId: id, groupName: id })),
    stateReason: inst.stateReason ? { code: inst.stateReason, message: inst.stateReasonMessage } : undefined,
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/sda1',
    blockDeviceMapping: [],
    instanceLifecycle: spot ? 'spot' : undefined,
    spotInstanceRequestId: spot ? `sir-${inst.id.slice(2, 10)}` : undefined,
    virtualizationType: 'hvm',
    clientToken: inst.clientToken ?? '',
    tagSet: Object.entries(inst.tags).map(([key, value]) => ({ key, value })),
    hypervisor: 'xen',
    iamInstanceProfile: profile === undefined ? undefined : {
      arn: profile.startsWith('arn:') ? profile : `arn:aws:iam::${ACCOUNT_ID}:instance-profile/${profile}`,
      id: `AIPA${inst.id.slice(2, 18).toUpperCase()}`,
    },
    ebsOptimized: false,
    enaSupport: true,
    metadataOptions: { state: 'applied', httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'enabled', instanceMetadataTags: inst.metadataTags ? 'enabled' : 'disabled' },
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
  };
}

/** Filter name → the instance's values for it; a filter matches when any value matches any of its patterns. */
const INSTANCE_FILTERS: Record<string, (i: InstanceRecord) => (string | undefined)[]> = {
  'instance-id': (i) => [i.id],
  'instance-state-name': (i) => [i.state],
  'instance-state-code': (i) => [String(STATE_CODES[i.state])],
  'instance-type': (i) => [i.instanceType],
  'instance-lifecycle': (i) => [i.market === 'spot' ? 'spot' : undefined],
  'availability-zone': (i) => [i.az],
  'image-id': (i) => [i.imageId],
  'placement-group-name': (i) => [i.placementGroup],
  'client-token': (i) => [i.clientToken],
  'private-ip-address': (i) => [i.state === 'terminated' ? undefined : i.privateIp],
  'reservation-id': (i) => [i.reservationId],
  'subnet-id': (i) => [i.subnetId],
  'key-name': (i) => [i.keyName],
  'tag-key': (i) => Object.keys(i.tags),
  'tag-value': (i) => Object.values(i.tags),
};

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`, 's');
}

function filterPredicate<T>(filters: Params[], lookup: (name: string) => ((x: T) => (string | undefined)[]) | undefined): (x: T) => boolean {
  const tests = filters.map((f) => {
    const name = str(f, 'Name') ?? '';
    const values = strings(f, 'Value').map(glob);
    const get = name.startsWith('tag:') ? undefined : lookup(name);
    const tagKey = name.startsWith('tag:') ? name.slice(4) : undefined;
    if (!get && tagKey === undefined) throw new ApiError('InvalidParameterValue', `The filter '${name}' is invalid`);
    return (x: T): boolean => {
      const have = tagKey !== undefined ? [(x as { tags: Record<string, string> }).tags[tagKey]] : get!(x);
      return have.some((h) => h !== undefined && values.some((re) => re.test(h)));
    };
  });
  return (x) => tests.every((t) => t(x));
}

function pageToken(after: number): string {
  return Buffer.from(JSON.stringify({ after })).toString('base64url');
}
function readPageToken(token: string | undefined): number {
  if (token === undefined) return -1;
  try {
    const { after } = JSON.parse(Buffer.from(token, 'base64url').toString()) as { after: unknown };
    if (typeof after === 'number') return after;
  } catch {
    // fall through
  }
  throw new ApiError('InvalidParameterValue', `The value '${token}' for NextToken is invalid.`);
}

function lookupInstances(ctx: Ctx, ids: string[]): InstanceRecord[] {
  const bad = ids.find((id) => !INSTANCE_ID.test(id));
  if (bad) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: "${bad}"`);
  const missing = ids.filter((id) => !ctx.home || !ctx.world.byId.has(id));
  if (missing.length === 1) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
  if (missing.length > 1) throw new ApiError('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
  return ids.map((id) => ctx.world.byId.get(id)!);
}

function describeInstances(ctx: Ctx, p: Params): Record<string, XmlValue> {
  const ids = strings(p, 'InstanceId');
  const maxResults = int(p, 'MaxResults');
  if (maxResults !== undefined && ids.length > 0) throw new ApiError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  if (maxResults !== undefined && (maxResults < 5 || maxResults > 1000)) throw new ApiError('InvalidParameterValue', `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`);
  const matches = filterPredicate<InstanceRecord>(structs(p, 'Filter'), (name) => INSTANCE_FILTERS[name]);
  const after = readPageToken(str(p, 'NextToken'));
  const candidates = ids.length > 0 ? [...new Set(lookupInstances(ctx, ids))].sort((a, b) => a.seq - b.seq) : ctx.home ? ctx.world.instances : [];
  const page: InstanceRecord[] = [];
  let more = false;
  for (const inst of candidates) {
    if (inst.seq <= after || !matches(inst)) continue;
    if (maxResults !== undefined && page.length === maxResults) {
      more = true;
      break;
    }
    page.push(inst);
  }
  // instances of one reservation stay together in one reservationSet item
  const reservations: { id: string; instances: InstanceRecord[] }[] = [];
  for (const inst of page) {
    const last = reservations.at(-1);
    if (last?.id === inst.reservationId) last.instances.push(inst);
    else reservations.push({ id: inst.reservationId, instances: [inst] });
  }
  return {
    reservationSet: reservations.map((r) => reservation(ctx.world, r.id, r.instances)),
    nextToken: more ? pageToken(page.at(-1)!.seq) : undefined,
  };
}

function terminateInstances(ctx: Ctx, p: Params): Record<string, XmlValue> {
  requireHome(ctx);
  const ids = strings(p, 'InstanceId');
  if (ids.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceId');
  const changes = lookupInstances(ctx, ids).map((inst) => {
    const previous = inst.state;
    ctx.world.beginShutdown(inst, 'Client.UserInitiatedShutdown');
    return {
      instanceId: inst.id,
      currentState: { code: STATE_CODES[inst.state], name: inst.state },
      previousState: { code: STATE_CODES[previous], name: previous },
    };
  });
  return { instancesSet: changes };
}

function createTags(ctx: Ctx, p: Params): Record<string, XmlValue> {
  requireHome(ctx);
  const ids = strings(p, 'ResourceId');
  if (ids.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter ResourceId');
  const tags = parseTags(structs(p, 'Tag'));
  for (const inst of lookupInstances(ctx, ids)) Object.assign(inst.tags, tags);
  return { return: true };
}

// ---- placement groups

function placementGroupXml(world: World, g: PlacementGroupRecord): XmlValue {
  return {
    groupName: g.name, state: 'available', strategy: g.strategy, partitionCount: g.partitionCount, groupId: g.id,
    tagSet: Object.entries(g.tags).map(([key, value]) => ({ key, value })),
    groupArn: `arn:aws:ec2:${world.opts.region}:${ACCOUNT_ID}:placement-group/${g.name}`,
  };
}

function createPlacementGroup(ctx: Ctx, p: Params): Record<string, XmlValue> {
  requireHome(ctx);
  const name = str(p, 'GroupName');
  if (!name) throw new ApiError('MissingParameter', 'The request must contain the parameter GroupName');
  if (ctx.world.placementGroups.has(name)) throw new ApiError('InvalidPlacementGroup.Duplicate', `The Placement Group '${name}' already exists.`);
  const strategy = str(p, 'Strategy') ?? 'cluster';
  if (!['cluster', 'spread', 'partition'].includes(strategy)) throw new ApiError('InvalidParameterValue', `Invalid value '${strategy}' for strategy.`);
  let tags: Record<string, string> = {};
  for (const spec of structs(p, 'TagSpecification')) if (str(spec, 'ResourceType') === 'placement-group') tags = { ...tags, ...parseTags(structs(spec, 'Tag')) };
  const partitionCount = int(p, 'PartitionCount');
  const group: PlacementGroupRecord = { name, id: hexId('pg'), strategy, tags, ...(partitionCount !== undefined ? { partitionCount } : {}) };
  ctx.world.placementGroups.set(name, group);
  return { return: true, placementGroup: placementGroupXml(ctx.world, group) };
}

const GROUP_FILTERS: Record<string, (g: PlacementGroupRecord) => string[]> = {
  'group-name': (g) => [g.name],
  'group-id': (g) => [g.id],
  strategy: (g) => [g.strategy],
  state: () => ['available'],
  'tag-key': (g) => Object.keys(g.tags),
};

function describePlacementGroups(ctx: Ctx, p: Params): Record<string, XmlValue> {
  const groups = ctx.home ? [...ctx.world.placementGroups.values()] : [];
  const names = strings(p, 'GroupName');
  const ids = strings(p, 'GroupId');
  for (const n of names) if (!groups.some((g) => g.name === n)) throw new ApiError('InvalidPlacementGroup.Unknown', `The Placement Group '${n}' is unknown.`);
  for (const id of ids) if (!groups.some((g) => g.id === id)) throw new ApiError('InvalidPlacementGroupId.NotFound', `The Placement Group ID '${id}' does not exist.`);
  const matches = filterPredicate<PlacementGroupRecord>(structs(p, 'Filter'), (name) => GROUP_FILTERS[name]);
  const chosen = groups.filter((g) => (names.length === 0 || names.includes(g.name)) && (ids.length === 0 || ids.includes(g.id)) && matches(g));
  return { placementGroupSet: chosen.map((g) => placementGroupXml(ctx.world, g)) };
}

function deletePlacementGroup(ctx: Ctx, p: Params): Record<string, XmlValue> {
  requireHome(ctx);
  const name = str(p, 'GroupName') ?? '';
  if (!ctx.world.placementGroups.has(name)) throw new ApiError('InvalidPlacementGroup.Unknown', `The Placement Group '${name}' is unknown.`);
  if (ctx.world.instances.some((i) => i.placementGroup === name && i.state !== 'terminated')) {
    throw new ApiError('InvalidPlacementGroup.InUse', `The placement group '${name}' is in use and may not be deleted.`);
  }
  ctx.world.placementGroups.delete(name);
  return { return: true };
}

// ---- prices and types

const LINUX_PRODUCTS = ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'];

function describeSpotPriceHistory(ctx: Ctx, p: Params): Record<string, XmlValue> {
  const { world } = ctx;
  const types = strings(p, 'InstanceType');
  const products = strings(p, 'ProductDescription');
  const az = str(p, 'AvailabilityZone');
  if (az !== undefined && ctx.home && !world.azs.includes(az)) throw new ApiError('InvalidParameterValue', `Invalid availability zone: [${az}]`);
  const maxResults = int(p, 'MaxResults') ?? 1000;
  const start = readPageToken(str(p, 'NextToken'));
  // one price per type and AZ, in effect since an hour before now (so any StartTime up to now sees it)
  const timestamp = new Date(Date.now() - 3600_000).toISOString();
  type PriceItem = { instanceType: string; productDescription: string; spotPrice: string; timestamp: string; availabilityZone: string; tags: Record<string, string> };
  const items: PriceItem[] = [];
  if (ctx.home) {
    for (const type of types.length > 0 ? types : Object.keys(world.opts.spotPrices)) {
      for (const product of (products.length > 0 ? products : ['Linux/UNIX']).filter((d) => LINUX_PRODUCTS.includes(d))) {
        for (const zone of az !== undefined ? [az] : world.azs) {
          items.push({ instanceType: type, productDescription: product, spotPrice: world.spotPrice(type).toFixed(6), timestamp, availabilityZone: zone, tags: {} });
        }
      }
    }
  }
  const matches = filterPredicate<PriceItem>(structs(p, 'Filter'), (name) => ({
    'instance-type': (i: PriceItem) => [i.instanceType],
    'product-description': (i: PriceItem) => [i.productDescription],
    'availability-zone': (i: PriceItem) => [i.availabilityZone],
    'spot-price': (i: PriceItem) => [i.spotPrice],
  })[name]);
  const all = items.filter(matches);
  const page = all.slice(start + 1, start + 1 + maxResults);
  return {
    spotPriceHistorySet: page.map(({ tags: _tags, ...i }) => i),
    nextToken: start + 1 + maxResults < all.length ? pageToken(start + maxResults) : undefined,
  };
}

interface TypeInfo { vcpus: number; memMiB: number; gpu?: { name: string; manufacturer: string; count: number; memMiB: number } }
const INSTANCE_TYPES: Record<string, TypeInfo> = {
  't3.micro': { vcpus: 2, memMiB: 1024 },
  'c5.large': { vcpus: 2, memMiB: 4096 },
  'm5.large': { vcpus: 2, memMiB: 8192 },
  'g4dn.xlarge': { vcpus: 4, memMiB: 16384, gpu: { name: 'T4', manufacturer: 'NVIDIA', count: 1, memMiB: 16384 } },
  'g5.xlarge': { vcpus: 4, memMiB: 16384, gpu: { name: 'A10G', manufacturer: 'NVIDIA', count: 1, memMiB: 24576 } },
  'g5.12xlarge': { vcpus: 48, memMiB: 196608, gpu: { name: 'A10G', manufacturer: 'NVIDIA', count: 4, memMiB: 24576 } },
  'p3.2xlarge': { vcpus: 8, memMiB: 62464, gpu: { name: 'V100', manufacturer: 'NVIDIA', count: 1, memMiB: 16384 } },
  'p4d.24xlarge': { vcpus: 96, memMiB: 1179648, gpu: { name: 'A100', manufacturer: 'NVIDIA', count: 8, memMiB: 40960 } },
};

function describeInstanceTypes(_ctx: Ctx, p: Params): Record<string, XmlValue> {
  const asked = strings(p, 'InstanceType');
  const unknown = asked.filter((t) => !(t in INSTANCE_TYPES));
  if (unknown.length > 0) throw new ApiError('InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`);
  const types = asked.length > 0 ? asked : Object.keys(INSTANCE_TYPES);
  return {
    instanceTypeSet: types.map((type) => {
      const t = INSTANCE_TYPES[type]!;
      return {
        instanceType: type,
        currentGeneration: true,
        supportedUsageClasses: ['on-demand', 'spot'],
        vCpuInfo: { defaultVCpus: t.vcpus },
        memoryInfo: { sizeInMiB: t.memMiB },
        processorInfo: { supportedArchitectures: ['x86_64'] },
        placementGroupInfo: { supportedStrategies: ['cluster', 'partition', 'spread'] },
        gpuInfo: t.gpu && {
          gpus: [{ name: t.gpu.name, manufacturer: t.gpu.manufacturer, count: t.gpu.count, memoryInfo: { sizeInMiB: t.gpu.memMiB } }],
          totalGpuMemoryInMiB: t.gpu.count * t.gpu.memMiB,
        },
      };
    }),
  };
}

function describeAvailabilityZones(ctx: Ctx): Record<string, XmlValue> {
  const zones = ctx.home ? ctx.world.azs : ['a', 'b', 'c'].map((s) => `${ctx.region}${s}`);
  return {
    availabilityZoneInfo: zones.map((zone, i) => ({
      zoneName: zone, zoneState: 'available', regionName: zone.slice(0, -1), zoneId: `${zone.slice(0, -1)}-az${i + 1}`, zoneType: 'availability-zone',
    })),
  };
}

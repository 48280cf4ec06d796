// The emulator's EC2 Query API, driven by the real EC2Client: lifecycle, tags and filters,
// idempotency, paging, faults and error shapes as the SDK parses them.
import {
  CreatePlacementGroupCommand, DeletePlacementGroupCommand, DescribeInstanceTypesCommand, DescribeInstancesCommand,
  DescribePlacementGroupsCommand, DescribeSpotPriceHistoryCommand, RunInstancesCommand, TerminateInstancesCommand,
  paginateDescribeInstances, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsError, ec2Client, until } from './helpers.js';
import { DEFAULT_AMI_ID, startEmulator, type Emulator } from './index.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ pendingMs: 100, agentOnlineMs: 50, shuttingDownMs: 100 });
});
afterAll(async () => { await emu?.stop(); });

const base = (over: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput => ({
  ImageId: DEFAULT_AMI_ID, InstanceType: 'g5.xlarge', MinCount: 1, MaxCount: 1, ...over,
});
const tagged = (tags: Record<string, string>): Partial<RunInstancesCommandInput> => ({
  TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
});

describe('instances', () => {
  it('goes pending → running → shutting-down → terminated, as DescribeInstances reports', async () => {
    const ec2 = ec2Client(emu);
    const run = await ec2.send(new RunInstancesCommand(base({
      InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { MaxPrice: '1.0' } },
      Placement: { AvailabilityZone: 'us-east-1b' },
      UserData: Buffer.from('#!/bin/bash\necho hi\n').toString('base64'),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'trainctl:managed', Value: 'true' }, { Key: 'Name', Value: 'lifecycle' }] },
        { ResourceType: 'volume', Tags: [{ Key: 'trainctl:managed', Value: 'true' }] },
      ],
      SecurityGroupIds: ['sg-0123456789abcdef0'], SubnetId: 'subnet-1', IamInstanceProfile: { Name: 'trainer' }, KeyName: 'key',
    })));
    const launched = run.Instances![0]!;
    const id = launched.InstanceId!;
    expect(run.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect(id).toMatch(/^i-[0-9a-f]{17}$/);
    expect(launched.State).toEqual({ Code: 0, Name: 'pending' });
    expect(launched.InstanceLifecycle).toBe('spot');
    expect(launched.Placement?.AvailabilityZone).toBe('us-east-1b');
    expect(launched.PrivateIpAddress).toBe('127.0.0.1');
    expect(launched.Tags).toEqual([{ Key: 'trainctl:managed', Value: 'true' }, { Key: 'Name', Value: 'lifecycle' }]);
    expect(launched.SecurityGroups).toEqual([{ GroupId: 'sg-0123456789abcdef0', GroupName: 'sg-0123456789abcdef0' }]);
    expect(launched.IamInstanceProfile?.Arn).toBe('arn:aws:iam::123456789012:instance-profile/trainer');
    expect(launched.LaunchTime).toBeInstanceOf(Date);
    const snap = emu.instances().find((i) => i.id === id)!;
    expect(snap).toMatchObject({ market: 'spot', az: 'us-east-1b', userData: '#!/bin/bash\necho hi\n', volumeTags: { 'trainctl:managed': 'true' }, imageId: DEFAULT_AMI_ID });
    expect(snap.imdsEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const stateOf = async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
    await until(async () => (await stateOf()).State?.Name === 'running', 'running');
    expect((await stateOf()).State?.Code).toBe(16);

    const term = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(term.TerminatingInstances).toEqual([{ InstanceId: id, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } }]);
    await until(async () => (await stateOf()).State?.Name === 'terminated', 'terminated');
    const gone = await stateOf();
    expect(gone.StateReason?.Code).toBe('Client.UserInitiatedShutdown');
    expect(gone.StateTransitionReason).toMatch(/^User initiated/);
    // terminating again is harmless and says so
    const again = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(again.TerminatingInstances?.[0]?.PreviousState?.Name).toBe('terminated');
  });

  it('filters by tag, tag-key, state, lifecycle and type, with wildcards; rejects unknown filters', async () => {
    const ec2 = ec2Client(emu);
    const project = `filters-${Date.now()}`;
    const a = (await ec2.send(new RunInstancesCommand(base({ ...tagged({ 'trainctl:project': project, 'trainctl:trial': 'job-aaa' }), InstanceMarketOptions: { MarketType: 'spot' } })))).Instances![0]!.InstanceId!;
    const b = (await ec2.send(new RunInstancesCommand(base({ ...tagged({ 'trainctl:project': project, 'trainctl:trial': 'job-bbb' }), InstanceType: 'c5.large' })))).Instances![0]!.InstanceId!;
    const c = (await ec2.send(new RunInstancesCommand(base(tagged({ 'other:project': project }))))).Instances![0]!.InstanceId!;
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [c] }));
    const ids = async (Filters: { Name: string; Values: string[] }[]) => (await ec2.send(new DescribeInstancesCommand({ Filters })))
      .Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId)).sort();

    expect(await ids([{ Name: 'tag:trainctl:project', Values: [project] }])).toEqual([a, b].sort());
    expect(await ids([{ Name: 'tag:trainctl:project', Values: [project] }, { Name: 'tag:trainctl:trial', Values: ['job-b*'] }])).toEqual([b]);
    expect(await ids([{ Name: 'tag:trainctl:project', Values: [project] }, { Name: 'instance-lifecycle', Values: ['spot'] }])).toEqual([a]);
    expect(await ids([{ Name: 'tag:trainctl:project', Values: [project] }, { Name: 'instance-type', Values: ['c5.*'] }])).toEqual([b]);
    expect(await ids([{ Name: 'tag-key', Values: ['other:project'] }, { Name: 'instance-state-name', Values: ['shutting-down', 'terminated'] }])).toEqual([c]);
    expect(await ids([{ Name: 'tag-key', Values: ['other:project'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }])).toEqual([]);
    expect(await ids([{ Name: 'instance-id', Values: [a, c] }, { Name: 'availability-zone', Values: ['us-east-1a'] }])).toEqual([a, c].sort());
    const bad = await awsError(ec2Client(emu, 1).send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-name', Values: ['x'] }] })));
    expect(bad).toMatchObject({ name: 'InvalidParameterValue', status: 400 });
  });

  it('answers unknown and malformed ids, MaxResults with InstanceIds, bad AMIs and unknown actions with AWS error codes', async () => {
    const ec2 = ec2Client(emu, 1);
    expect(await awsError(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }))))
      .toMatchObject({ name: 'InvalidInstanceID.NotFound', message: "The instance ID 'i-0123456789abcdef0' does not exist" });
    expect((await awsError(ec2.send(new TerminateInstancesCommand({ InstanceIds: ['nope'] })))).name).toBe('InvalidInstanceID.Malformed');
    expect((await awsError(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'], MaxResults: 5 })))).name).toBe('InvalidParameterCombination');
    expect((await awsError(ec2.send(new DescribeInstancesCommand({ MaxResults: 2 })))).name).toBe('InvalidParameterValue');
    expect((await awsError(ec2.send(new RunInstancesCommand(base({ ImageId: 'ubuntu-22.04' })))))).toMatchObject({ name: 'InvalidAMIID.Malformed', status: 400 });
    expect((await awsError(ec2.send(new RunInstancesCommand(base({ Placement: { GroupName: 'no-such-group' } })))))).toMatchObject({ name: 'InvalidPlacementGroup.Unknown' });
    expect((await awsError(ec2.send(new RunInstancesCommand(base({ UserData: 'not base64!' })))))).toMatchObject({ name: 'InvalidParameterValue' });

    const noAuth = await fetch(emu.ec2Endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=DescribeInstances&Version=2016-11-15' });
    expect(noAuth.status).toBe(401);
    expect(await noAuth.text()).toMatch(/<Response><Errors><Error><Code>AuthFailure<\/Code>/);
    const auth = { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0' };
    const unknown = await fetch(emu.ec2Endpoint, { method: 'POST', headers: auth, body: 'Action=LaunchRockets&Version=2016-11-15' });
    expect(await unknown.text()).toMatch(/<Code>InvalidAction<\/Code>/);
  });

  it('makes RunInstances idempotent per ClientToken and refuses a reused token with other parameters', async () => {
    const ec2 = ec2Client(emu, 1);
    const token = `trial-x-attempt-1-rank-0-${Date.now()}`;
    const input = base({ ClientToken: token, ...tagged({ 'trainctl:trial': 'trial-x' }) });
    const before = emu.instances().length;
    const first = await ec2.send(new RunInstancesCommand(input));
    const second = await ec2.send(new RunInstancesCommand(input));
    expect(second.ReservationId).toBe(first.ReservationId);
    expect(second.Instances!.map((i) => i.InstanceId)).toEqual(first.Instances!.map((i) => i.InstanceId));
    expect(second.Instances![0]!.ClientToken).toBe(token);
    expect(emu.instances().length).toBe(before + 1);
    const calls = emu.calls.filter((c) => c.action === 'RunInstances' && c.params.ClientToken === token);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.params).toMatchObject({ ImageId: DEFAULT_AMI_ID, MinCount: '1', TagSpecification: [{ ResourceType: 'instance', Tag: [{ Key: 'trainctl:trial', Value: 'trial-x' }] }] });

    const mismatch = await awsError(ec2.send(new RunInstancesCommand({ ...input, InstanceType: 'c5.large' })));
    expect(mismatch).toMatchObject({ name: 'IdempotentParameterMismatch', status: 400 });
    expect(emu.instances().length).toBe(before + 1);
  });

  it('pages 2,500 seeded instances in three pages of at most 1,000', async () => {
    const paged = await startEmulator();
    try {
      paged.seed(2500, (i) => ({ 'trainctl:managed': 'true', 'trainctl:project': 'bench', 'trainctl:trial': `t-${i}` }));
      paged.seed(10, () => ({ 'trainctl:managed': 'true', 'trainctl:project': 'elsewhere' }));
      const ec2 = ec2Client(paged);
      const seen: string[] = [];
      let pages = 0;
      for await (const p of paginateDescribeInstances({ client: ec2, pageSize: 1000 }, { Filters: [{ Name: 'tag:trainctl:project', Values: ['bench'] }] })) {
        pages++;
        for (const r of p.Reservations ?? []) for (const i of r.Instances ?? []) seen.push(i.Tags!.find((t) => t.Key === 'trainctl:trial')!.Value!);
      }
      expect(pages).toBe(3);
      expect(seen).toHaveLength(2500);
      expect(new Set(seen).size).toBe(2500);
      const calls = paged.calls.filter((c) => c.action === 'DescribeInstances');
      expect(calls.map((c) => c.params.MaxResults)).toEqual(['1000', '1000', '1000']);
      expect(calls[0]!.params.NextToken).toBeUndefined();
      expect(calls[2]!.params.NextToken).toEqual(expect.any(String));
    } finally {
      await paged.stop();
    }
  });
});

describe('faults', () => {
  it('fails RunInstances with a capacity error for the matching market only, the given number of times', async () => {
    const ec2 = ec2Client(emu, 1);
    emu.faults.capacity({ market: 'spot', instanceType: 'g5.12xlarge', times: 2 });
    const spot = base({ InstanceType: 'g5.12xlarge', InstanceMarketOptions: { MarketType: 'spot' } });
    const err = await awsError(ec2.send(new RunInstancesCommand(spot)));
    expect(err).toMatchObject({ name: 'InsufficientInstanceCapacity', status: 400 });
    expect(err.message).toContain('g5.12xlarge capacity in the Availability Zone you requested (us-east-1a)');
    // on-demand is not affected
    const od = await ec2.send(new RunInstancesCommand(base({ InstanceType: 'g5.12xlarge' })));
    expect(od.Instances![0]!.InstanceLifecycle).toBeUndefined();
    expect((await awsError(ec2.send(new RunInstancesCommand(spot)))).name).toBe('InsufficientInstanceCapacity');
    // used up
    expect((await ec2.send(new RunInstancesCommand(spot))).Instances![0]!.InstanceLifecycle).toBe('spot');

    emu.faults.capacity({ market: 'spot', code: 'MaxSpotInstanceCountExceeded' });
    expect((await awsError(ec2.send(new RunInstancesCommand(spot)))).name).toBe('MaxSpotInstanceCountExceeded');
    expect((await awsError(ec2.send(new RunInstancesCommand(spot)))).name).toBe('MaxSpotInstanceCountExceeded');
    emu.faults.clear();
    expect((await ec2.send(new RunInstancesCommand(spot))).Instances).toHaveLength(1);
  });

  it('refuses a spot MaxPrice under the spot price with SpotMaxPriceTooLow', async () => {
    const ec2 = ec2Client(emu, 1);
    const err = await awsError(ec2.send(new RunInstancesCommand(base({ InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { MaxPrice: '0.10' } } }))));
    expect(err).toMatchObject({ name: 'SpotMaxPriceTooLow' });
    expect(err.message).toContain('0.4024');
  });

  it('throttles with RequestLimitExceeded (503), which the SDK retries on its own', async () => {
    const ec2 = ec2Client(emu); // default retry strategy: 3 attempts
    const from = emu.calls.length;
    emu.faults.throttle({ service: 'ec2', action: 'DescribeInstances', times: 2 });
    const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['nothing-has-this'] }] }));
    expect(out.Reservations).toEqual([]);
    const calls = emu.calls.slice(from).filter((c) => c.action === 'DescribeInstances');
    expect(calls.map((c) => c.error)).toEqual(['RequestLimitExceeded', 'RequestLimitExceeded', undefined]);

    emu.faults.throttle({ service: 'ec2', times: 1 });
    expect(await awsError(ec2Client(emu, 1).send(new DescribeInstancesCommand({})))).toMatchObject({ name: 'RequestLimitExceeded', status: 503 });
  });

  it('holds new instances in pending for slowPending', async () => {
    const ec2 = ec2Client(emu);
    emu.faults.slowPending(1500);
    const id = (await ec2.send(new RunInstancesCommand(base()))).Instances![0]!.InstanceId!;
    emu.faults.clear();
    await new Promise((r) => setTimeout(r, 300));
    expect(emu.instances().find((i) => i.id === id)!.state).toBe('pending');
    await until(() => emu.instances().find((i) => i.id === id)!.state === 'running', 'running after slow pending');
  });
});

describe('placement groups, spot prices and instance types', () => {
  it('creates, describes, uses and deletes a cluster placement group', async () => {
    const ec2 = ec2Client(emu, 1);
    const name = `trainctl-ddp-${Date.now()}`;
    const created = await ec2.send(new CreatePlacementGroupCommand({ GroupName: name, Strategy: 'cluster' }));
    expect(created.PlacementGroup).toMatchObject({ GroupName: name, Strategy: 'cluster', State: 'available' });
    expect((await awsError(ec2.send(new CreatePlacementGroupCommand({ GroupName: name, Strategy: 'cluster' })))).name).toBe('InvalidPlacementGroup.Duplicate');
    const described = await ec2.send(new DescribePlacementGroupsCommand({ GroupNames: [name] }));
    expect(described.PlacementGroups?.map((g) => g.GroupName)).toEqual([name]);

    const run = await ec2.send(new RunInstancesCommand(base({ MinCount: 2, MaxCount: 2, Placement: { GroupName: name } })));
    expect(run.Instances!.map((i) => [i.Placement?.GroupName, i.AmiLaunchIndex])).toEqual([[name, 0], [name, 1]]);
    expect((await awsError(ec2.send(new DeletePlacementGroupCommand({ GroupName: name })))).name).toBe('InvalidPlacementGroup.InUse');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: run.Instances!.map((i) => i.InstanceId!) }));
    await until(() => emu.instances().filter((i) => i.placementGroup === name).every((i) => i.state === 'terminated'), 'group terminated');
    await ec2.send(new DeletePlacementGroupCommand({ GroupName: name }));
    expect((await awsError(ec2.send(new DescribePlacementGroupsCommand({ GroupNames: [name] })))).name).toBe('InvalidPlacementGroup.Unknown');
  });

  it('reports spot prices per AZ and GPU counts per type', async () => {
    const ec2 = ec2Client(emu, 1);
    const prices = await ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['g5.xlarge', 'p4d.24xlarge'], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date() }));
    expect(prices.SpotPriceHistory).toHaveLength(6);
    const a = prices.SpotPriceHistory!.find((p) => p.InstanceType === 'g5.xlarge' && p.AvailabilityZone === 'us-east-1a')!;
    expect(a).toMatchObject({ ProductDescription: 'Linux/UNIX', SpotPrice: '0.402400' });
    expect(a.Timestamp!.getTime()).toBeLessThan(Date.now());
    const oneAz = await ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['t3.micro'], AvailabilityZone: 'us-east-1c' }));
    expect(oneAz.SpotPriceHistory?.map((p) => p.AvailabilityZone)).toEqual(['us-east-1c']);

    const types = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['g5.12xlarge', 'c5.large'] }));
    const g5 = types.InstanceTypes!.find((t) => t.InstanceType === 'g5.12xlarge')!;
    expect(g5.GpuInfo?.Gpus?.[0]).toMatchObject({ Name: 'A10G', Manufacturer: 'NVIDIA', Count: 4 });
    expect(types.InstanceTypes!.find((t) => t.InstanceType === 'c5.large')!.GpuInfo).toBeUndefined();
    expect((await awsError(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['z9.huge' as never] })))).name).toBe('InvalidInstanceType');
  });

  it('shows an empty account to requests signed for another region, and refuses writes there', async () => {
    const west = ec2Client({ ...emu, region: 'us-west-2' }, 1);
    expect((await west.send(new DescribeInstancesCommand({}))).Reservations).toEqual([]);
    expect((await awsError(west.send(new RunInstancesCommand(base())))).name).toBe('UnauthorizedOperation');
    expect((await ec2Client(emu).send(new DescribeInstancesCommand({}))).Reservations!.length).toBeGreaterThan(0);
  });
});

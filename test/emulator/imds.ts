// IMDSv2 of one emulated instance, on its own port (the SDKs and the runner take a bare
// AWS_EC2_METADATA_SERVICE_ENDPOINT, so the port is what tells instances apart): session tokens,
// identity, placement, spot/instance-action once an interruption is announced.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen } from './http.js';
import { ACCOUNT_ID, type InstanceRecord, type World } from './world.js';

const MAX_TTL_S = 21600;

export function startImds(world: World, inst: InstanceRecord): ReturnType<typeof listen> {
  const tokens = new Map<string, number>(); // token → expiry (ms)

  return listen((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: string, contentType = 'text/plain'): void => {
      world.record('imds', path, { instanceId: inst.id, method: req.method }, status >= 400 ? String(status) : undefined);
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    // the instance is gone: real IMDS is unreachable then, and so is this one once closed
    if (inst.state === 'terminated') return void req.socket.destroy();

    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return send(405, 'Method Not Allowed');
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_S) return send(400, 'Bad Request');
      const token = randomBytes(32).toString('base64');
      tokens.set(token, Date.now() + ttl * 1000);
      res.setHeader('x-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return send(200, token);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'Method Not Allowed');
    // IMDSv2 only (HttpTokens=required): every read needs a live session token
    const token = req.headers['x-aws-ec2-metadata-token'];
    const expiry = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry < Date.now()) return send(401, 'Unauthorized');

    const answer = metadata(world, inst, path);
    if (answer === undefined) return send(404, 'Not Found');
    return send(200, answer, answer.startsWith('{') ? 'application/json' : 'text/plain');
  });
}

function metadata(world: World, inst: InstanceRecord, path: string): string | undefined {
  const md = '/latest/meta-data/';
  if (path === '/latest/user-data') return inst.userData;
  if (path === '/latest/dynamic/instance-identity/document') {
    return JSON.stringify({
      accountId: ACCOUNT_ID, architecture: 'x86_64', availabilityZone: inst.az, imageId: inst.imageId, instanceId: inst.id,
      instanceType: inst.instanceType, pendingTime: inst.launchTime, privateIp: inst.privateIp, region: world.opts.region, version: '2017-09-30',
    }, null, 2);
  }
  if (!path.startsWith(md) && path !== md.slice(0, -1)) return undefined;
  const key = path.slice(md.length).replace(/\/$/, '');
  const tagKey = key.startsWith('tags/instance/') ? key.slice('tags/instance/'.length) : undefined;
  if (tagKey !== undefined) return inst.metadataTags ? inst.tags[tagKey] : undefined;
  const values: Record<string, string | undefined> = {
    'ami-id': inst.imageId,
    'ami-launch-index': String(inst.launchIndex),
    hostname: privateDnsName(inst.privateIp),
    'instance-id': inst.id,
    'instance-type': inst.instanceType,
    'instance-life-cycle': inst.market,
    'local-hostname': privateDnsName(inst.privateIp),
    'local-ipv4': inst.privateIp,
    'placement/availability-zone': inst.az,
    'placement/region': world.opts.region,
    'placement/group-name': inst.placementGroup,
    'reservation-id': inst.reservationId,
    'spot/instance-action': inst.interruption ? JSON.stringify(inst.interruption) : undefined,
    'spot/termination-time': inst.interruption?.time,
    'tags/instance': inst.metadataTags ? Object.keys(inst.tags).join('\n') : undefined,
  };
  if (key in values) return values[key];
  // a directory listing: the next path segment of every key under it that has a value
  const dir = key === '' ? '' : `${key}/`;
  const children = new Set<string>();
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || !k.startsWith(dir)) continue;
    const rest = k.slice(dir.length);
    children.add(rest.includes('/') ? `${rest.split('/')[0]}/` : rest);
  }
  return children.size > 0 ? [...children].sort().join('\n') : undefined;
}

export function privateDnsName(ip: string): string {
  return `ip-${ip.replaceAll('.', '-')}.ec2.internal`;
}

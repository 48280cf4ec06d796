// The lean signer (src/transfer/sigv4.ts) must sign exactly as @smithy/signature-v4 does for the
// requests the lean path sends: any difference is a 403 from every server.
import { createHash, createHmac, type Hash as NodeHash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { escapeUri, LeanSigner, type SigningCredentials } from '../../src/transfer/sigv4.js';

/** What @smithy/hash-node gives the SDK's signer (not a direct dependency here). */
type Source = string | ArrayBuffer | ArrayBufferView;
const bytes = (s: Source) => (typeof s === 'string' ? s : ArrayBuffer.isView(s) ? new Uint8Array(s.buffer, s.byteOffset, s.byteLength) : new Uint8Array(s));
class Sha256 {
  private readonly h: NodeHash | Hmac;
  constructor(secret?: Source) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: Source): void {
    this.h.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

const plain: SigningCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const session: SigningCredentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 's3cr3t/with+chars=', sessionToken: 'FwoGZXIvYXdzEJr//////////session+token==' };

const pathFor = (bucket: string, key: string) => `/${escapeUri(bucket)}/${key.split('/').map(escapeUri).join('/')}`;

interface Case {
  name: string;
  key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  method?: string;
}

const cases: Case[] = [
  { name: 'a plain key', key: 'data/shard-0001.bin' },
  { name: 'unicode', key: 'données/日本語/émoji-🙂.txt' },
  { name: 'spaces and reserved characters', key: "dir with spaces/a+b=c&d!e'f(g)h*i~j.k_l-m" },
  { name: 'a range and If-Match', key: 'big.bin', headers: { 'if-match': '"0123456789abcdef0123456789abcdef-12"', range: 'bytes=8388608-16777215' } },
  { name: 'a query', key: 'obj', query: { versionId: 'v1/2+3', partNumber: '3', 'response-content-type': 'text/plain; charset=utf-8', a: '' } },
  { name: 'header values to trim and collapse, unsignable headers', key: 'k', headers: { 'X-Amz-Meta-Note': '  two   spaces\tand tab ', 'user-agent': 'trainctl', 'proxy-authorization': 'x' } },
  { name: 'a PUT', key: 'up/part', method: 'PUT', query: { partNumber: '7', uploadId: 'abc~def' }, headers: { 'content-length': '1024' } },
];

async function bothSign(c: Case, creds: SigningCredentials, region: string, when: Date) {
  const path = pathFor('bucket-1', c.key);
  const headers = { host: '127.0.0.1:7480', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...c.headers };
  const sdk = new SignatureV4({ service: 's3', region, credentials: creds, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  const expected = await sdk.sign({ method: c.method ?? 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 7480, path, query: c.query ?? {}, headers } as Parameters<SignatureV4['sign']>[0], { signingDate: when });
  const lean = new LeanSigner(region, 's3', () => Promise.resolve(creds));
  const got = await lean.sign({ method: c.method ?? 'GET', path, query: c.query, headers }, when.getTime());
  return { expected, got };
}

describe('LeanSigner', () => {
  for (const c of cases) {
    for (const [credName, creds] of [['keys', plain], ['a session token', session]] as const) {
      it(`signs ${c.name} with ${credName} as the SDK does`, async () => {
        const { expected, got } = await bothSign(c, creds, 'us-east-1', new Date('2026-11-25T14:45:30.123Z'));
        expect(got.headers).toEqual(expected.headers);
        expect(got.headers.authorization).toBe(expected.headers.authorization);
      });
    }
  }

  it('signs the query the SDK signs, and sends it in that encoding', async () => {
    const c = cases.find((x) => x.name === 'a query')!;
    const { expected, got } = await bothSign(c, plain, 'eu-west-3', new Date('2027-01-01T00:00:00Z'));
    expect(got.headers.authorization).toBe(expected.headers.authorization);
    const sent = new URLSearchParams(got.query);
    for (const [k, v] of Object.entries(c.query!)) expect(sent.get(k)).toBe(v);
    expect(got.query).toBe('a=&partNumber=3&response-content-type=text%2Fplain%3B%20charset%3Dutf-8&versionId=v1%2F2%2B3');
  });

  it('derives a new key when the day or the credentials change', async () => {
    let creds = plain;
    const lean = new LeanSigner('us-east-1', 's3', () => Promise.resolve(creds));
    const sdk = (c: SigningCredentials) => new SignatureV4({ service: 's3', region: 'us-east-1', credentials: c, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
    const req = { method: 'GET', path: '/b/k', headers: { host: 'h', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } };
    for (const [when, c] of [
      ['2026-11-25T23:59:59.900Z', plain],
      ['2026-11-26T00:00:00.100Z', plain],
      ['2026-11-26T00:00:01.000Z', session],
      ['2026-11-26T00:00:01.500Z', plain],
    ] as const) {
      creds = c;
      const date = new Date(when);
      const expected = await sdk(c).sign({ ...req, protocol: 'http:', hostname: 'h', query: {} } as Parameters<SignatureV4['sign']>[0], { signingDate: date });
      expect((await lean.sign(req, date.getTime())).headers).toEqual(expected.headers);
    }
  });

  it('refuses credentials without keys', async () => {
    const lean = new LeanSigner('us-east-1', 's3', () => Promise.resolve({} as SigningCredentials));
    await expect(lean.sign({ method: 'GET', path: '/b/k', headers: { host: 'h' } })).rejects.toThrow(/credential/);
  });
});

// Hourly prices of compute: a built-in table (AWS on-demand and spot by region and instance type,
// RunPod per GPU type), a user's prices.json over it, and the lookup for one job's compute. Pure:
// reading the user's file is the caller's I/O.
import type { ResolvedCompute } from '../spec/types.js';

export interface AwsPrice {
  /** USD per instance-hour, Linux, on-demand. */
  onDemand: number;
  /** A typical spot price; live DescribeSpotPriceHistory figures win over it. */
  spot?: number;
}

/** USD per GPU-hour. */
export interface RunpodPrice {
  secure?: number;
  community?: number;
  /** Interruptible (spot) pods. */
  spot?: number;
}

export interface PriceTable {
  /** The day the figures were taken from the public price lists (YYYY-MM-DD). */
  asOf: string;
  /** region → instance type → price. */
  aws: Record<string, Record<string, AwsPrice>>;
  /** RunPod GPU type id (`NVIDIA GeForce RTX 4090`) → price per GPU. */
  runpod: Record<string, RunpodPrice>;
  /** USD per hour of one local node; absent: local runs are free. Lets tests give local trials a cost. */
  local?: number;
}

/** A price found in a table: `user` when it came from the user's prices.json. */
export interface TablePrice {
  usdPerHour: number;
  source: 'table' | 'user';
  asOf: string;
}

// [on-demand, typical spot] USD per hour, Linux, us-east-1 list prices.
const US_EAST_1: Record<string, [number, number]> = {
  'g4dn.xlarge': [0.526, 0.21], 'g4dn.2xlarge': [0.752, 0.3], 'g4dn.4xlarge': [1.204, 0.48], 'g4dn.8xlarge': [2.176, 0.87], 'g4dn.12xlarge': [3.912, 1.56], 'g4dn.16xlarge': [4.352, 1.74],
  'g5.xlarge': [1.006, 0.42], 'g5.2xlarge': [1.212, 0.5], 'g5.4xlarge': [1.624, 0.68], 'g5.8xlarge': [2.448, 1.03], 'g5.12xlarge': [5.672, 2.38], 'g5.16xlarge': [4.096, 1.72], 'g5.24xlarge': [8.144, 3.42], 'g5.48xlarge': [16.288, 6.84],
  'g6.xlarge': [0.8048, 0.34], 'g6.2xlarge': [0.9776, 0.41], 'g6.4xlarge': [1.3232, 0.56], 'g6.12xlarge': [4.6016, 1.93], 'g6.48xlarge': [13.3504, 5.61],
  'p3.2xlarge': [3.06, 0.92], 'p3.8xlarge': [12.24, 3.67], 'p3.16xlarge': [24.48, 7.34],
  'p4d.24xlarge': [32.7726, 11.57],
  'p5.48xlarge': [98.32, 39.33],
  'c5.large': [0.085, 0.035], 'c5.xlarge': [0.17, 0.07], 'c5.2xlarge': [0.34, 0.14], 'c5.4xlarge': [0.68, 0.28],
  'm5.large': [0.096, 0.04], 'm5.xlarge': [0.192, 0.08], 'm5.2xlarge': [0.384, 0.16], 'm5.4xlarge': [0.768, 0.32],
  't3.micro': [0.0104, 0.0031], 't3.small': [0.0208, 0.0062], 't3.medium': [0.0416, 0.0125], 't3.large': [0.0832, 0.025],
};

// eu-west-1 (Ireland) list prices for the types most used there.
const EU_WEST_1: Record<string, [number, number]> = {
  'g4dn.xlarge': [0.587, 0.23], 'g4dn.2xlarge': [0.838, 0.33], 'g5.xlarge': [1.123, 0.45], 'g5.2xlarge': [1.353, 0.54],
  'p3.2xlarge': [3.305, 0.99], 'c5.xlarge': [0.192, 0.08], 'm5.xlarge': [0.214, 0.09], 't3.medium': [0.0456, 0.0137],
};

const aws = (t: Record<string, [number, number]>): Record<string, AwsPrice> =>
  Object.fromEntries(Object.entries(t).map(([type, [onDemand, spot]]) => [type, { onDemand, spot }]));

/**
 * List prices as published by AWS (on-demand, Linux) and RunPod on `asOf`; spot figures are typical
 * prices seen around that date and move by the hour. Prices change: put current or negotiated ones
 * in $TRAINCTL_HOME/prices.json (or the file TRAINCTL_PRICES names), which wins over this table.
 */
export const BUILTIN_PRICES: PriceTable = {
  asOf: '2025-01-15',
  aws: {
    'us-east-1': aws(US_EAST_1),
    // us-east-2 and us-west-2 list the same prices as us-east-1 for these types
    'us-east-2': aws(US_EAST_1),
    'us-west-2': aws(US_EAST_1),
    'eu-west-1': aws(EU_WEST_1),
  },
  runpod: {
    'NVIDIA H100 80GB HBM3': { secure: 2.99, community: 2.69, spot: 1.75 },
    'NVIDIA H100 PCIe': { secure: 2.39, community: 1.99, spot: 1.25 },
    'NVIDIA A100-SXM4-80GB': { secure: 1.89, community: 1.74, spot: 1.05 },
    'NVIDIA A100 80GB PCIe': { secure: 1.64, community: 1.19, spot: 0.82 },
    'NVIDIA L40S': { secure: 0.86, community: 0.79, spot: 0.53 },
    'NVIDIA RTX A6000': { secure: 0.76, community: 0.49, spot: 0.33 },
    'NVIDIA A40': { secure: 0.44, community: 0.39, spot: 0.24 },
    'NVIDIA GeForce RTX 4090': { secure: 0.69, community: 0.34, spot: 0.27 },
    'NVIDIA GeForce RTX 3090': { secure: 0.43, community: 0.22, spot: 0.16 },
    'NVIDIA L4': { secure: 0.43, community: 0.39, spot: 0.22 },
  },
};

/** A table with no prices: `tablePrice(compute, overrides, NO_PRICES)` looks in the user's file alone. */
export const NO_PRICES: PriceTable = { asOf: '', aws: {}, runpod: {} };

/** A user's prices.json: any part of a PriceTable; what it names wins over the built-in table. */
export type PriceOverrides = Partial<PriceTable>;

/** The file's prices, or the first thing wrong with it as one line (`where` names the file). */
export function parsePriceOverrides(text: string, where: string): PriceOverrides | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { error: `${where} is not valid JSON: ${(err as Error).message}` };
  }
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  const price = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const bad = (path: string, expected: string, got: unknown) => ({ error: `${where}: ${path} must be ${expected}, got ${JSON.stringify(got) ?? 'nothing'}` });
  if (!isObj(raw)) return bad('the top level', 'an object like {"aws": {...}, "runpod": {...}, "local": 0.5}', raw);
  for (const key of Object.keys(raw)) {
    if (!['asOf', 'aws', 'runpod', 'local'].includes(key)) return { error: `${where}: unknown key "${key}" (expected asOf, aws, runpod, local)` };
  }
  if (raw.asOf !== undefined && typeof raw.asOf !== 'string') return bad('asOf', 'a date string', raw.asOf);
  if (raw.local !== undefined && !price(raw.local)) return bad('local', 'a price in USD per hour ≥ 0', raw.local);
  const entries = (section: 'aws' | 'runpod', fields: readonly string[], nested: boolean) => {
    const top = raw[section];
    if (top === undefined) return undefined;
    if (!isObj(top)) return bad(section, 'an object', top);
    const groups: [string, unknown][] = nested ? Object.entries(top) : [['', top]];
    for (const [region, types] of groups) {
      const base = nested ? `${section}[${JSON.stringify(region)}]` : section;
      if (!isObj(types)) return bad(base, 'an object of instance types', types);
      for (const [type, p] of Object.entries(types)) {
        const at = `${base}[${JSON.stringify(type)}]`;
        if (!isObj(p)) return bad(at, `an object with ${fields.join(', ')}`, p);
        for (const [k, v] of Object.entries(p)) {
          if (!fields.includes(k)) return { error: `${where}: ${at} has unknown key "${k}" (expected ${fields.join(', ')})` };
          if (!price(v)) return bad(`${at}.${k}`, 'a price in USD per hour ≥ 0', v);
        }
        if (section === 'aws' && p.onDemand === undefined) return bad(`${at}.onDemand`, 'a price in USD per hour ≥ 0', undefined);
      }
    }
    return undefined;
  };
  const problem = entries('aws', ['onDemand', 'spot'], true) ?? entries('runpod', ['secure', 'community', 'spot'], false);
  if (problem) return problem;
  return raw as PriceOverrides;
}

/** The market a worst-case estimate assumes: a spot-with-fallback job may end up on-demand. */
function worstCaseMarket(market: 'spot' | 'on-demand' | 'spot-with-fallback'): 'spot' | 'on-demand' {
  return market === 'spot' ? 'spot' : 'on-demand';
}

/**
 * Price of one node of the compute, for a worst-case estimate, from the first table that knows it
 * (`overrides` before the built-in table); undefined when none does. AWS spot-with-fallback is
 * priced on-demand; RunPod is per GPU × gpuCount, the dearest of the cloud types and GPU types the
 * spec allows. Local is free unless a table prices it.
 */
export function tablePrice(compute: ResolvedCompute, overrides: PriceOverrides | undefined, builtin: PriceTable = BUILTIN_PRICES): TablePrice | undefined {
  const tables: [PriceOverrides, 'user' | 'table'][] = [...(overrides ? [[overrides, 'user'] as [PriceOverrides, 'user']] : []), [builtin, 'table']];
  for (const [table, source] of tables) {
    const usdPerHour = priceIn(table, compute);
    if (usdPerHour !== undefined) return { usdPerHour, source, asOf: table.asOf ?? builtin.asOf };
  }
  return undefined;
}

function priceIn(table: PriceOverrides, compute: ResolvedCompute): number | undefined {
  switch (compute.provider) {
    case 'local':
      return table.local;
    case 'aws': {
      const spot = worstCaseMarket(compute.market) === 'spot';
      // a spot price never rises above the bid the spec sets
      if (spot && compute.maxPricePerHour !== undefined) return compute.maxPricePerHour;
      // no region in the spec: the SDK's chain decides; us-east-1 is where most land
      const p = table.aws?.[compute.region ?? 'us-east-1']?.[compute.instanceType];
      if (!p) return undefined;
      return spot ? p.spot : p.onDemand;
    }
    case 'runpod': {
      const types = compute.gpuTypes ?? (compute.gpuType ? [compute.gpuType] : []);
      const perGpu = types.map((t) => runpodPerGpu(table.runpod?.[t], compute));
      if (perGpu.length === 0 || perGpu.some((p) => p === undefined)) return undefined;
      return Math.max(...(perGpu as number[])) * compute.gpuCount;
    }
  }
}

function runpodPerGpu(p: RunpodPrice | undefined, compute: Extract<ResolvedCompute, { provider: 'runpod' }>): number | undefined {
  if (!p) return undefined;
  if (compute.interruptible) return compute.bidPerGpu ?? p.spot ?? p.community ?? p.secure;
  if (compute.cloudType === 'SECURE') return p.secure;
  if (compute.cloudType === 'COMMUNITY') return p.community ?? p.secure;
  const both = [p.secure, p.community].filter((v): v is number => v !== undefined);
  return both.length ? Math.max(...both) : undefined;
}

// The user's price file: $TRAINCTL_PRICES, else $TRAINCTL_HOME/prices.json when it exists. Read
// once per process; a bad file is a one-line error, never a silent fallback to list prices.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitError } from '../core/errors.js';
import { parsePriceOverrides, type PriceOverrides } from '../core/prices.js';

const cache = new Map<string, PriceOverrides | undefined>();

export function loadPriceOverrides(home: string, env: NodeJS.ProcessEnv = process.env): PriceOverrides | undefined {
  const named = env.TRAINCTL_PRICES || undefined;
  const path = named ?? join(home, 'prices.json');
  if (cache.has(path)) return cache.get(path);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (named || code !== 'ENOENT') throw new ExitError(`cannot read the price file ${path}: ${code ?? (err as Error).message}`, 1, named ? 'TRAINCTL_PRICES names a JSON file of prices; unset it to use the built-in table' : undefined);
  }
  const parsed = text === undefined ? undefined : parsePriceOverrides(text, path);
  if (parsed && 'error' in parsed) throw new ExitError(parsed.error, 1, 'the format: {"aws": {"<region>": {"<type>": {"onDemand": 1.0, "spot": 0.4}}}, "runpod": {"<gpu type>": {"secure": 0.7, "community": 0.4, "spot": 0.3}}, "local": 0}');
  cache.set(path, parsed);
  return parsed;
}

// The RunStore contract on file://.
import { readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { storeContract } from './contract.js';
import { sandbox } from '../runner/harness.js';

storeContract('file://', async (trial) => {
  const sb = sandbox(trial);
  return {
    store: sb.store,
    ref: sb.ref,
    put: async (rel, body) => {
      const path = join(sb.trialDir, rel);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, body);
    },
    remove: async (rel) => rmSync(join(sb.trialDir, rel), { force: true }),
    keys: async () => {
      try {
        return (readdirSync(sb.trialDir, { recursive: true }) as string[])
          .filter((p) => statSync(join(sb.trialDir, p)).isFile())
          .map((p) => relative(sb.trialDir, join(sb.trialDir, p)).split(sep).join('/'))
          .sort();
      } catch {
        return [];
      }
    },
  };
});

// The dependency rules of DESIGN §8 are enforced by the lint setup, not by goodwill.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const eslint = new ESLint({ cwd: repoRoot });
async function ruleHits(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import rules', () => {
  it.each([
    ['src/core/x.ts', "import { execa } from 'execa';"],
    ['src/core/x.ts', "import { Listr } from 'listr2';"],
    ['src/spec/x.ts', "import { spawn } from 'node:child_process';"],
    ['src/spec/x.ts', "import { EC2Client } from '@aws-sdk/client-ec2';"],
    ['src/core/x.ts', "import { LocalProvider } from '../providers/local/index.js';"],
    ['src/spec/x.ts', "import { observeWorld } from '../engine/observe.js';"],
    ['src/engine/x.ts', "import { S3Client } from '@aws-sdk/client-s3';"],
    ['src/cli/x.ts', "import { EC2Client } from '@aws-sdk/client-ec2';"],
  ])('%s may not: %s', async (file, code) => {
    expect(await ruleHits(file, `${code}\nexport const y = 1;\n`)).toHaveLength(1);
  });

  it.each([
    ['src/core/x.ts', "import { createHash } from 'node:crypto';"],
    ['src/spec/x.ts', "import { parse } from 'yaml';"],
    ['src/providers/aws/x.ts', "import { EC2Client } from '@aws-sdk/client-ec2';"],
    ['src/engine/x.ts', "import { plan } from '../core/plan.js';"],
  ])('%s may: %s', async (file, code) => {
    expect(await ruleHits(file, `${code}\nexport const y = 1;\n`)).toEqual([]);
  });
});

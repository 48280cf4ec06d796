// The schema is the source of truth: the generated types and validator must match it, and
// every field must carry a description (the README's reference is generated from them).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

interface Node { [k: string]: unknown; properties?: Record<string, Node>; definitions?: Record<string, Node> }
const schema = JSON.parse(readFileSync(join(repoRoot, 'schema/trainjob.schema.json'), 'utf8')) as Node;

describe('schema', () => {
  it('generated files are up to date (npm run gen:types)', async () => {
    const { generate } = (await import(join(repoRoot, 'scripts/gen-types.mjs'))) as { generate(): Promise<Record<string, string>> };
    const files = await generate();
    expect(Object.keys(files).map((p) => p.slice(repoRoot.length + 1)).sort()).toEqual(['src/spec/schema.gen.ts', 'src/spec/validator.gen.js']);
    for (const [path, text] of Object.entries(files)) expect(readFileSync(path, 'utf8'), `${path} is stale: run npm run gen:types`).toBe(text);
  });

  it('the --check mode fails on a stale file', () => {
    const out = execFileSync(process.execPath, ['scripts/gen-types.mjs', '--check'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });

  it('describes every property', () => {
    const missing: string[] = [];
    const visit = (node: Node, path: string) => {
      for (const [k, v] of Object.entries(node.properties ?? {})) {
        const target = typeof v.$ref === 'string' ? schema.definitions![v.$ref.replace('#/definitions/', '')]! : v;
        const description = v.description ?? target.description;
        if (typeof description !== 'string' || description.length < 8) missing.push(`${path}.${k}`);
        visit(v, `${path}.${k}`);
      }
      for (const [k, v] of Object.entries(node.definitions ?? {})) visit(v, `#${k}`);
    };
    visit(schema, '');
    expect(missing).toEqual([]);
  });

  it('README spec reference is generated from the schema (npm run gen:docs)', async () => {
    const { renderReference } = (await import(join(repoRoot, 'scripts/gen-docs.mjs'))) as { renderReference(): string };
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain(renderReference());
  });
});

// Generates the checked-in artefacts derived from schema/trainjob.schema.json:
// src/spec/schema.gen.ts (TypeScript types) and src/spec/validator.gen.js (a precompiled ajv validator,
// so the CLI never compiles the schema at start-up). `--check` fails when either file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const schema = JSON.parse(readFileSync(`${root}schema/trainjob.schema.json`, 'utf8'));

export async function generate() {
  const banner = '/* Generated from schema/trainjob.schema.json by `npm run gen:types`. Do not edit. */';
  const types = await compile(structuredClone(schema), 'TrainJob', {
    bannerComment: banner,
    additionalProperties: false,
    strictIndexSignatures: true,
    style: { singleQuote: true },
  });
  const ajv = new Ajv.default({ allErrors: true, strict: true, allowUnionTypes: true, unicode: false, discriminator: true, code: { source: true, esm: true } });
  const validate = ajv.compile(schema);
  const validator = `${banner}\n// @ts-nocheck\n${standaloneCode.default(ajv, validate)}`;
  return {
    [`${root}src/spec/schema.gen.ts`]: types,
    [`${root}src/spec/validator.gen.js`]: validator,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await generate();
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, text] of Object.entries(files)) {
    let old = '';
    try { old = readFileSync(path, 'utf8'); } catch { /* absent */ }
    if (old === text) continue;
    if (check) { console.error(`stale: ${path} (run npm run gen:types)`); stale++; }
    else { writeFileSync(path, text); console.log(`wrote ${path}`); }
  }
  process.exit(stale ? 1 : 0);
}

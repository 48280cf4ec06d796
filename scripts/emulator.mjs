// `npm run emulator`: the wire-level AWS emulator lives in test/emulator/ as TypeScript, so bundle its
// entry point with esbuild (dependencies stay external, resolved from this checkout) and run it.
import { build } from 'esbuild';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// inside node_modules so the bundle's bare imports (@aws-sdk/*) resolve from here
const outfile = join(root, 'node_modules/.cache/trainctl/emulator.mjs');
await build({
  absWorkingDir: root,
  entryPoints: ['test/emulator/main.ts'],
  outfile,
  bundle: true,
  packages: 'external',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
// the SDK's "node ≥ 22 from 2027" notice is not about the emulator
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
await import(pathToFileURL(outfile).href);

// Builds dist/: the CLI (ESM, code-split so each command loads only what it needs), the
// benchmarks, and the runner (one self-contained file). Dependencies are bundled so start-up reads
// few files.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
// TRAINCTL_DIST_DIR lets concurrent test runs in one checkout build and run their own copies.
const outdir = resolve(root, process.env.TRAINCTL_DIST_DIR ?? 'dist');

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { bin: 'src/bin.ts', 'bench/plan': 'bench/plan.ts', 'bench/cli': 'bench/cli.ts', 'bench/local': 'bench/local.ts', 'bench/s3': 'bench/s3.ts', 'bench/aws': 'bench/aws.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  define: { __TRAINCTL_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    // bundled CommonJS dependencies (ajv's runtime, yaml) call require()
    js: "import { createRequire as __trainctlCreateRequire } from 'node:module'; const require = __trainctlCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// The runner runs on nodes that have node and nothing else: one file, no chunks, every import bundled.
await build({
  absWorkingDir: root,
  entryPoints: { runner: 'src/runner/main.ts' },
  outdir,
  bundle: true,
  splitting: false,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  sourcemap: 'linked',
  define: { __TRAINCTL_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: "import { createRequire as __trainctlCreateRequire } from 'node:module'; const require = __trainctlCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// Lint: TypeScript rules plus the dependency rules of DESIGN §8 — core/ and spec/ stay pure,
// cloud SDKs are imported only where effects live.
import tseslint from 'typescript-eslint';

const sideEffects = ['@aws-sdk/*', 'execa', 'listr2', 'node:child_process', 'child_process'];
const layers = (...names) => names.flatMap((n) => [`**/${n}/**`, `../${n}/*`, `../../${n}/*`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.scratch/**', 'test-artifacts/**', 'src/spec/validator.gen.js', 'src/spec/schema.gen.ts'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**'],
    ignores: ['src/providers/**', 'src/store/**', 'src/transfer/**', 'src/runner/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['@aws-sdk/*'], message: 'AWS SDK imports live in providers/, store/, transfer/ and runner/ only (DESIGN §6).' }],
      }],
    },
  },
  {
    files: ['src/core/**', 'src/spec/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: sideEffects, message: 'core/ and spec/ are pure: no SDKs, processes or task runners (DESIGN §8).' },
          { group: layers('providers', 'engine', 'cli', 'store', 'transfer', 'runner', 'render'), message: 'core/ and spec/ may not import effectful layers (DESIGN §8).' },
        ],
      }],
    },
  },
);

// The bad-input corpus: every file in test/fixtures/bad/ is a broken TrainJob spec whose top
// comment lines say, as `# expect: LINE:COL: severity: message — hint`, exactly what the loader
// must report. Line numbers are those of the file as it stands, expect lines included.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, type Diagnostic } from '../../src/core/diagnostics.js';
import { loadSpecs } from '../../src/spec/load.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const corpusDir = join(root, 'test/fixtures/bad');
const corpus = readdirSync(corpusDir).filter((f) => /^\d\d-[a-z0-9-]+\.yaml$/.test(f)).sort();

/** The `# expect:` lines of the comment block a fixture starts with. */
function expectations(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const m = /^# expect: (.*)$/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** formatDiagnostic without the leading `file:` (and for file-level ones, `file: `). */
function withoutFile(d: Diagnostic): string {
  const text = formatDiagnostic(d);
  expect(text.startsWith(`${d.file}:`)).toBe(true);
  return text.slice(d.file.length + 1).trimStart();
}

describe('bad-input corpus', () => {
  it('holds at least 40 fixtures, every file named NN-short-name.yaml', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40);
    expect(readdirSync(corpusDir).filter((f) => !corpus.includes(f))).toEqual([]);
  });

  it.each(corpus)('%s', (name) => {
    const file = join(corpusDir, name);
    const expected = expectations(readFileSync(file, 'utf8'));
    expect(expected.length, 'a fixture states at least one expected diagnostic').toBeGreaterThan(0);
    const { jobs, diagnostics } = loadSpecs([relative(root, file)], { cwd: root, defaultOutputUri: 'file:///tmp/trainctl-test-runs' });
    expect(diagnostics.every((d) => d.file === `test/fixtures/bad/${name}`)).toBe(true);
    expect(diagnostics.map(withoutFile)).toEqual(expected);
    expect(jobs).toEqual([]);
  });
});

// Seeded random mutation of valid specs: whatever the text, loadText returns diagnostics that
// point into the file and say something, never throws, and yields a job whenever it reports no
// error. A failure prints the iteration and the mutated text, so it can be replayed.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isCollection, isMap, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { Diagnostic } from '../../src/core/diagnostics.js';
import { loadText, type LoadResult } from '../../src/spec/load.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SEED = 0x7ea1c71;
const DOCUMENTS = 1800;

interface Base { file: string; dir: string; text: string }

const yamlIn = (dir: string) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(root, dir, f));
const bases: Base[] = [...yamlIn('jobs.example'), ...yamlIn('test/fixtures/good')]
  .map((file) => ({ file, dir: dirname(file), text: readFileSync(file, 'utf8') }));

/** mulberry32: small, fast, and the same sequence on every machine. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

type Path = (string | number)[];

/** Every path to a node in the document, keys of mappings included as their values' paths. */
function pathsOf(doc: Document): Path[] {
  const out: Path[] = [];
  const stack: { node: unknown; path: Path }[] = [{ node: doc.contents, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (path.length > 0) out.push(path);
    if (isMap(node)) {
      for (const item of node.items) if (isPair(item) && isScalar(item.key)) stack.push({ node: item.value, path: [...path, String(item.key.value)] });
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: [...path, i] }));
    }
  }
  return out;
}

const WORDS = ['aws', 'local', 'runpod', 'grid', 'random', 'list', 'lr', 'spot', '0 2 * * *', 's3://b/', 'file:///tmp/x', '{lr}', '6h', '0s', '..', '/abs', 'Europe/Berlin', 'x'];

function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 6 : 9)) {
    case 0: return r.pick(WORDS);
    case 1: return r.int(200) - 50;
    case 2: return r.next() * 10 - 5;
    case 3: return r.next() < 0.5;
    case 4: return null;
    case 5: return '';
    case 6: return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['provider', 'min', 'max', 'distribution', 'cron', 'uri', 'name', 'a']), randomValue(r, depth + 1)]));
    default: return 'x'.repeat(1 + r.int(5_000));
  }
}

function nested(depth: number, open: string, close: string): string {
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
}

const NOISE = ['\t', ':', ': ', '[', ']', '{', '}', '-', '- ', '#', '"', "'", '&a', '*a', '!', '!!int ', '|', '>', '%', '@', '`', ',', '?', '\n', '\n  ', ' ', 'x', '0', '\u0000', '\uFEFF', '---\n', '...\n', '\r\n', '\\'];

/** Mutations on the parsed document; each returns the new text. */
const structural: ((doc: Document, r: Rng) => void)[] = [
  // drop a key (or list item)
  (doc, r) => { const ps = pathsOf(doc); if (ps.length) doc.deleteIn(r.pick(ps)); },
  // swap a value for one of another type
  (doc, r) => { const ps = pathsOf(doc); if (ps.length) doc.setIn(r.pick(ps), doc.createNode(randomValue(r))); },
  // deep nesting in place of a value
  (doc, r) => {
    const ps = pathsOf(doc);
    let v: unknown = 1;
    for (let i = 0; i < 20 + r.int(120); i++) v = r.next() < 0.5 ? [v] : { a: v };
    if (ps.length) doc.setIn(r.pick(ps), doc.createNode(v));
  },
  // a key that does not belong
  (doc, r) => {
    const maps = pathsOf(doc).filter((p) => isMap(doc.getIn(p, true)));
    const at = maps.length && r.next() < 0.8 ? r.pick(maps) : [];
    doc.setIn([...at, r.pick(['keepLast', 'gpu', 'instanceType', 'samples', 'trials', '__proto__', 'constructor', 'x-y', '0'])], doc.createNode(randomValue(r)));
  },
];

/** Mutations on the text. */
const textual: ((text: string, r: Rng) => string)[] = [
  // truncate
  (text, r) => text.slice(0, r.int(text.length + 1)),
  // insert noise at random offsets
  (text, r) => {
    let t = text;
    for (let n = 1 + r.int(4); n > 0; n--) {
      const at = r.int(t.length + 1);
      t = t.slice(0, at) + r.pick(NOISE) + t.slice(at);
    }
    return t;
  },
  // duplicate a `key:` line right after itself
  (text, r) => {
    const lines = text.split('\n');
    const keyed = lines.map((l, i) => (/^\s*[A-Za-z_][\w-]*:/.test(l) ? i : -1)).filter((i) => i >= 0);
    if (keyed.length === 0) return text;
    const i = r.pick(keyed);
    lines.splice(i + 1, 0, lines[i]!);
    return lines.join('\n');
  },
  // re-indent a line (spaces or a tab)
  (text, r) => {
    const lines = text.split('\n');
    const i = r.int(lines.length);
    lines[i] = r.pick(['', ' ', '   ', '\t', '      ']) + lines[i]!.trimStart();
    return lines.join('\n');
  },
  // delete or swap lines
  (text, r) => {
    const lines = text.split('\n');
    const i = r.int(lines.length);
    if (r.next() < 0.5) lines.splice(i, 1 + r.int(3));
    else { const j = r.int(lines.length); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; }
    return lines.join('\n');
  },
  // a scalar after `key: ` replaced by a very long string or by deep flow/block nesting
  (text, r) => {
    const lines = text.split('\n');
    const keyed = lines.map((l, i) => (/^\s*[\w-]+: \S/.test(l) ? i : -1)).filter((i) => i >= 0);
    if (keyed.length === 0) return text;
    const i = r.pick(keyed);
    const [, indent, key] = /^(\s*)([\w-]+):/.exec(lines[i]!)!;
    // Mostly nesting past the loader's limit; now and then deep enough to exhaust the parser's stack.
    const depth = r.next() < 0.1 ? 1000 + r.int(2000) : 20 + r.int(200);
    const choice = r.int(5);
    if (choice === 0) lines[i] = `${indent}${key}: ${'y'.repeat(10_000 + r.int(50_000))}`;
    else if (choice === 1) lines[i] = `${indent}${key}: "${'\\u00e9'.repeat(5_000)}"`;
    else if (choice === 2) lines[i] = `${indent}${key}: ${nested(depth, '[', ']')}`;
    else if (choice === 3) lines[i] = `${indent}${key}: ${nested(depth, '{a: ', '}')}`;
    else {
      const block = Array.from({ length: depth }, (_, d) => `${indent}${' '.repeat(2 * (d + 1))}k${d}:`).join('\n');
      lines[i] = `${indent}${key}:\n${block} 1`;
    }
    return lines.join('\n');
  },
  // another document appended, whole or in part
  (text, r) => `${text}\n---\n${r.pick(bases).text.slice(0, r.next() < 0.5 ? undefined : r.int(400))}`,
];

function mutate(base: Base, r: Rng): string {
  let text = base.text;
  for (let n = 1 + r.int(3); n > 0; n--) {
    if (r.next() < 0.45) {
      const doc = parseDocument(text);
      if (doc.errors.length > 0 || !isCollection(doc.contents)) { text = r.pick(textual)(text, r); continue; }
      r.pick(structural)(doc, r);
      text = doc.toString({ lineWidth: 0 });
    } else {
      text = r.pick(textual)(text, r);
    }
  }
  return text;
}

function problems(result: LoadResult, text: string, shown: string): string[] {
  const lines = text.split(/\r\n|\r|\n/).length;
  const bad: string[] = [];
  const check = (d: Diagnostic, ok: boolean, what: string) => { if (!ok) bad.push(`${what}: ${JSON.stringify(d).slice(0, 300)}`); };
  for (const d of result.diagnostics) {
    check(d, d.file === shown, 'file');
    check(d, d.severity === 'error' || d.severity === 'warning', 'severity');
    check(d, (d.line >= 1 && d.col >= 1) || (d.line === 0 && d.col === 0), 'position');
    check(d, d.line <= lines, 'line past the end of the text');
    check(d, typeof d.message === 'string' && d.message.trim().length > 0, 'empty message');
    check(d, !/undefined|\[object Object\]/.test(`${d.message} ${d.hint ?? ''}`), 'message leaks a JS value');
    check(d, d.message.length + (d.hint?.length ?? 0) < 600, 'a value is quoted in full, however long');
  }
  if (!result.diagnostics.some((d) => d.severity === 'error') && result.jobs.length === 0) bad.push('no errors but no job');
  return bad;
}

describe('random mutations of valid specs', () => {
  it('the base specs load cleanly', () => {
    for (const b of bases) {
      const r = loadText(b.text, 'base.yaml', { cwd: root, dir: b.dir, defaultOutputUri: 'file:///tmp/trainctl-test-runs' });
      expect(r.diagnostics, b.file).toEqual([]);
      expect(r.jobs.length, b.file).toBeGreaterThan(0);
    }
    expect(bases.length).toBeGreaterThanOrEqual(5);
    expect(bases.some((b) => b.file.endsWith('jobs.example/quickstart.yaml'))).toBe(true);
  });

  it(`${DOCUMENTS} mutated documents: no throw, positions inside the file, a job whenever there is no error`, () => {
    const r = rng(SEED);
    const tally = { errors: 0, clean: 0, warnings: 0, yaml: 0, deep: 0 };
    const seen = new Set<string>();
    for (let i = 0; i < DOCUMENTS; i++) {
      const base = bases[i % bases.length]!;
      const text = mutate(base, r);
      seen.add(text);
      let result: LoadResult;
      try {
        result = loadText(text, 'mutant.yaml', { cwd: root, dir: base.dir, defaultOutputUri: 'file:///tmp/trainctl-test-runs' });
      } catch (err) {
        throw new Error(`iteration ${i} (seed ${SEED}) threw ${(err as Error).stack}\n--- text ---\n${text.slice(0, 2000)}`);
      }
      const bad = problems(result, text, 'mutant.yaml');
      if (bad.length > 0) throw new Error(`iteration ${i} (seed ${SEED}):\n${bad.join('\n')}\n--- text ---\n${text.slice(0, 2000)}`);
      if (result.diagnostics.some((d) => d.severity === 'error')) tally.errors++;
      else tally.clean++;
      if (result.diagnostics.some((d) => d.severity === 'warning')) tally.warnings++;
      if (result.diagnostics.some((d) => d.message.startsWith('YAML syntax error'))) tally.yaml++;
      if (result.diagnostics.some((d) => /nesting is too deep|call stack|cannot parse YAML/.test(d.message))) tally.deep++;
    }
    // The mutations reach both sides: most break the spec, some leave it valid, and a share
    // break the YAML itself rather than only the schema.
    expect(seen.size).toBeGreaterThan(DOCUMENTS * 0.9);
    expect(tally.errors).toBeGreaterThan(DOCUMENTS * 0.5);
    expect(tally.clean).toBeGreaterThan(DOCUMENTS * 0.03);
    expect(tally.yaml).toBeGreaterThan(DOCUMENTS * 0.1);
    expect(tally.deep).toBeGreaterThan(20);
  });
});

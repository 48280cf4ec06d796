// Loading specs: paths (files, directories, multi-document files) → validated, defaulted Jobs,
// with every problem in every file reported as a diagnostic on the YAML node at fault.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve as resolvePath, dirname } from 'node:path';
import { isAlias, isCollection, isMap, isNode, isPair, isScalar, LineCounter, parseAllDocuments, type Alias, type Document, type Node, type YAMLError } from 'yaml';
import { sortDiagnostics, type Diagnostic } from '../core/diagnostics.js';
import { isImplicitNull, SourceDoc } from './source.js';
import type { Job } from './types.js';
import { validateDocument } from './validate.js';

export interface LoadOptions {
  cwd: string;
  /** Default output URI for local jobs that name none. */
  defaultOutputUri: string;
}

export interface LoadResult { jobs: Job[]; diagnostics: Diagnostic[] }

const SPEC_FILE = /\.ya?ml$/i;

export function loadSpecs(inputs: readonly string[], opts: LoadOptions): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const jobs: Job[] = [];
  const files: string[] = [];
  for (const input of inputs) {
    const abs = resolvePath(opts.cwd, input);
    const kind = statKind(abs);
    if (kind === 'missing') diagnostics.push(fileError(input, 'no such file or directory', 'check the path given to -f'));
    else if (kind === 'file') files.push(abs);
    else {
      const found = specFilesIn(abs);
      if (found.length === 0) diagnostics.push(fileError(input, 'directory holds no .yaml or .yml files'));
      files.push(...found);
    }
  }
  for (const abs of [...new Set(files)]) {
    const shown = displayName(abs, opts.cwd);
    const result = loadFile(abs, shown, opts);
    diagnostics.push(...result.diagnostics);
    jobs.push(...result.jobs);
  }
  diagnostics.push(...duplicateJobs(jobs));
  return { jobs: diagnostics.some((d) => d.severity === 'error') ? [] : jobs, diagnostics: sortDiagnostics(diagnostics) };
}

export function loadFile(abs: string, shown: string, opts: LoadOptions): LoadResult {
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    return { jobs: [], diagnostics: [fileError(shown, `cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)] };
  }
  return loadText(text, shown, { ...opts, dir: dirname(abs) });
}

/** Parses and validates YAML text that holds one or more TrainJob documents. */
export function loadText(text: string, shown: string, opts: LoadOptions & { dir: string }): LoadResult {
  const lines = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true }) as Document.Parsed[];
  } catch (err) {
    // The parser recurses once per nesting level and can run out of stack on hostile input.
    return { jobs: [], diagnostics: [fileError(shown, `cannot parse YAML: ${lowerFirst((err as Error).message)}`, NESTING_HINT)] };
  }
  const diagnostics: Diagnostic[] = [];
  const jobs: Job[] = [];
  let nonEmpty = 0;
  for (const doc of docs) {
    const source = new SourceDoc(shown, text, doc, lines);
    if (doc.errors.length > 0) {
      diagnostics.push(...yamlErrors(doc.errors, source));
      nonEmpty++;
      continue;
    }
    diagnostics.push(...doc.warnings.map((w) => yamlWarning(w, source)));
    // An empty document: nothing between `---` separators, or a trailing `---`.
    if (doc.contents === null || isImplicitNull(doc.contents)) continue;
    nonEmpty++;
    const structural = structureProblems(doc, source);
    if (structural.length > 0) {
      diagnostics.push(...structural);
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const { line, col } = source.start();
      diagnostics.push({ severity: 'error', file: shown, line, col, message: `cannot read document: ${lowerFirst((err as Error).message)}`, hint: 'avoid deeply nested aliases' });
      continue;
    }
    const result = validateDocument(value, {
      source,
      dir: opts.dir,
      defaultOutputUri: opts.defaultOutputUri,
      stat: statKind,
      resolvePath: (dir, rel) => (isAbsolute(rel) ? rel : join(dir, rel)),
      showPath: (abs) => displayName(abs, opts.cwd),
    });
    diagnostics.push(...result.diagnostics);
    if (result.job) jobs.push(result.job);
  }
  if (nonEmpty === 0) {
    diagnostics.push(fileError(shown, 'file holds no TrainJob document', 'run `trainctl init` for a starter trainjob.yaml'));
  }
  return { jobs, diagnostics };
}

const NESTING_HINT = 'a TrainJob nests only a few levels deep';

/** Deeper than any TrainJob needs, shallow enough that nothing downstream runs out of stack. */
const MAX_DEPTH = 64;

/**
 * Problems in a document's shape that YAML allows but a TrainJob never has, found before
 * toJS() so that none of them reaches it: nesting deep enough to exhaust the stack, keys that
 * are lists or mappings (toJS would stringify them), aliases with no anchor, and `__proto__`
 * keys (assigning one to a plain object changes its prototype instead of adding a key).
 * Iterative, because the point is to survive documents nested too deeply to recurse over.
 */
function structureProblems(doc: Document.Parsed, source: SourceDoc): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (node: Node, message: string, hint?: string) => {
    const { line, col } = source.pos(node.range?.[0] ?? 0);
    out.push({ severity: 'error', file: source.file, line, col, message, ...(hint ? { hint } : {}) });
  };
  const aliases: Alias[] = [];
  const stack: { node: unknown; depth: number }[] = [{ node: doc.contents, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (isAlias(node)) aliases.push(node);
    if (!isCollection(node)) continue;
    if (depth > MAX_DEPTH) {
      at(node, `nesting is too deep (more than ${MAX_DEPTH} levels)`, NESTING_HINT);
      return out;
    }
    for (const item of node.items as unknown[]) {
      if (!isPair(item)) {
        stack.push({ node: item, depth: depth + 1 });
        continue;
      }
      if (isCollection(item.key)) at(item.key, `a key must be a plain value, not a ${isMap(item.key) ? 'mapping' : 'list'}`, 'write the key as a string');
      else if (isScalar(item.key) && item.key.value === '__proto__') at(item.key, 'the key "__proto__" is not allowed', 'rename it');
      else if (isAlias(item.key)) stack.push({ node: item.key, depth: depth + 1 });
      stack.push({ node: item.value, depth: depth + 1 });
    }
  }
  // Only now that the depth is known to be safe: resolve() walks the document recursively.
  for (const alias of aliases) {
    if (alias.resolve(doc) === undefined) at(alias, `unknown alias *${alias.source}`, `define the anchor &${alias.source} before it is used`);
  }
  return out;
}

/** After the first few, YAML errors are knock-on effects of the first (one unclosed bracket
 * makes every later one unexpected); a user fixes the first and runs again. */
const MAX_YAML_ERRORS = 5;

/** YAML errors as diagnostics: at most one per line, in words that say what to change. */
function yamlErrors(errors: readonly YAMLError[], source: SourceDoc): Diagnostic[] {
  // An over-indented line yields BLOCK_AS_IMPLICIT_KEY and MULTILINE_IMPLICIT_KEY at the same
  // offset; the second says it better.
  const multiline = new Set(errors.filter((e) => e.code === 'MULTILINE_IMPLICIT_KEY').map((e) => e.pos[0]));
  const ordered = errors.filter((e) => e.code !== 'BLOCK_AS_IMPLICIT_KEY' || !multiline.has(e.pos[0])).sort((a, b) => a.pos[0] - b.pos[0]);
  const lines = new Set<number>();
  const out: Diagnostic[] = [];
  for (const e of ordered) {
    const d = yamlDiagnostic(e, source);
    if (lines.has(d.line)) continue;
    lines.add(d.line);
    out.push(d);
    if (out.length === MAX_YAML_ERRORS) break;
  }
  return out;
}

const SYNTAX_HINT = 'check indentation and that every `key: value` has a space after the colon';

function yamlDiagnostic(e: YAMLError, source: SourceDoc): Diagnostic {
  const at = (offset: number, message: string, hint?: string): Diagnostic => {
    const { line, col } = source.pos(offset);
    return { severity: 'error', file: source.file, line, col, message, ...(hint ? { hint } : {}) };
  };
  const raw = lowerFirst(e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      const key = keyAt(source.doc, e.pos[0]) ?? source.text.slice(e.pos[0], e.pos[1]);
      return at(e.pos[0], `duplicate key ${JSON.stringify(key)}`, 'each key may appear only once in a mapping');
    }
    case 'TAB_AS_INDENT':
      return at(e.pos[0], 'tab used for indentation', 'indent YAML with spaces');
    case 'MULTILINE_IMPLICIT_KEY': {
      // The parser read a value and the next line as one key: the next line is indented too
      // far, or the line above lacks the space after its colon. Point at the line read as key.
      const span = source.text.slice(e.pos[0], e.pos[1]);
      const nl = span.lastIndexOf('\n');
      if (nl < 0) return at(e.pos[0], `YAML syntax error: ${raw}`, SYNTAX_HINT);
      const keyStart = e.pos[0] + nl + 1 + (span.slice(nl + 1).length - span.slice(nl + 1).trimStart().length);
      const above = source.pos(e.pos[0]).line;
      return at(keyStart, `YAML syntax error: this line is read as part of the value on line ${above}`,
        `indent it like the keys next to it, and check that line ${above} has a space after its colon`);
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
      return at(e.pos[0], 'YAML syntax error: a mapping cannot start on the same line as its key', 'move it to the next line and indent it, or quote the value if it holds ": "');
    case 'MISSING_CHAR': {
      const open = unclosedQuote(source, e.pos[0]);
      if (open) return at(open.offset, `YAML syntax error: this ${open.quote} is never closed`, `end the string with ${open.quote}`);
      return at(e.pos[0], `YAML syntax error: ${raw}`, SYNTAX_HINT);
    }
    case 'BAD_INDENT': {
      const open = /^flow (map|sequence)/.test(raw) ? unclosedFlow(source, e.pos[0]) : undefined;
      if (open) {
        const close = open.bracket === '[' ? ']' : '}';
        return at(open.offset, `YAML syntax error: this ${open.bracket} is never closed`, `end the ${open.bracket === '[' ? 'list' : 'mapping'} with ${close}, and indent any line it continues on deeper than its key`);
      }
      return at(firstNonBlank(source.text, e.pos[0]), `YAML syntax error: ${raw}`, SYNTAX_HINT);
    }
    case 'UNEXPECTED_TOKEN': {
      const token = source.text.slice(e.pos[0], e.pos[1]).trim();
      return token
        ? at(e.pos[0], `YAML syntax error: unexpected ${JSON.stringify(token)}`, 'remove it, or quote the value it belongs to')
        : at(e.pos[0], `YAML syntax error: ${raw}`, SYNTAX_HINT);
    }
    case 'RESOURCE_EXHAUSTION':
      return at(e.pos[0], `YAML syntax error: ${raw}`, NESTING_HINT);
    default:
      return at(e.pos[0], `YAML syntax error: ${raw}`);
  }
}

function yamlWarning(w: YAMLError, source: SourceDoc): Diagnostic {
  const { line, col } = source.pos(w.pos[0]);
  const raw = lowerFirst(w.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  return { severity: 'warning', file: source.file, line, col, message: `YAML: ${raw}` };
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** Skips blanks from `offset` to the first character on the same line. */
function firstNonBlank(text: string, offset: number): number {
  let i = offset;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  return i < text.length && text[i] !== '\n' && text[i] !== '\r' ? i : offset;
}

/** Nodes of a document, without recursion (see structureProblems). */
function* nodesOf(doc: Document.Parsed): Generator<Node> {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const n = stack.pop();
    if (isPair(n)) { stack.push(n.value, n.key); continue; }
    if (!isNode(n)) continue;
    yield n;
    if (isCollection(n)) stack.push(...(n.items as unknown[]));
  }
}

/** The text of the map key that starts at `offset`. */
function keyAt(doc: Document.Parsed, offset: number): string | undefined {
  for (const n of nodesOf(doc)) if (isScalar(n) && n.range?.[0] === offset) return String(n.value);
  return undefined;
}

/** The quoted scalar that runs up to `offset` without its closing quote. */
function unclosedQuote(source: SourceDoc, offset: number): { offset: number; quote: string } | undefined {
  let found: { offset: number; quote: string } | undefined;
  for (const n of nodesOf(source.doc)) {
    if (!isScalar(n) || !n.range || (n.type !== 'QUOTE_DOUBLE' && n.type !== 'QUOTE_SINGLE')) continue;
    const [start, end] = n.range;
    const quote = n.type === 'QUOTE_DOUBLE' ? '"' : "'";
    const closed = end - start >= 2 && source.text.slice(start, end).trimEnd().endsWith(quote);
    if (start < offset && offset <= end && !closed && (!found || start > found.offset)) found = { offset: start, quote };
  }
  return found;
}

/** The flow collection (`[`, `{`) that runs up to `offset` without its closing bracket. */
function unclosedFlow(source: SourceDoc, offset: number): { offset: number; bracket: '[' | '{' } | undefined {
  let found: { offset: number; bracket: '[' | '{' } | undefined;
  for (const n of nodesOf(source.doc)) {
    if (!isCollection(n) || !n.flow || !n.range) continue;
    const [start, end] = n.range;
    const bracket = isMap(n) ? '{' : '[';
    const closed = source.text.slice(start, end).trimEnd().endsWith(bracket === '[' ? ']' : '}');
    if (start < offset && offset <= end && !closed && (!found || start > found.offset)) found = { offset: start, bracket };
  }
  return found;
}

function duplicateJobs(jobs: readonly Job[]): Diagnostic[] {
  const seen = new Map<string, Job>();
  const out: Diagnostic[] = [];
  for (const job of jobs) {
    const key = `${job.project}/${job.name}`;
    const first = seen.get(key);
    if (!first) { seen.set(key, job); continue; }
    out.push({
      severity: 'error', file: job.source.file, line: job.source.line, col: job.source.col,
      message: `duplicate job "${job.name}" in project "${job.project}"`,
      hint: `first defined at ${first.source.file}:${first.source.line}; job names are unique within a project`,
    });
  }
  return out;
}

function fileError(file: string, message: string, hint?: string): Diagnostic {
  return { severity: 'error', file, line: 0, col: 0, message, ...(hint ? { hint } : {}) };
}

function statKind(path: string): 'dir' | 'file' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

function specFilesIn(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (SPEC_FILE.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function displayName(abs: string, cwd: string): string {
  const rel = relative(cwd, abs);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

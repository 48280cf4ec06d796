// Loading specs: paths (files, directories, multi-document files) → validated, defaulted Jobs,
// with every problem in every file reported as a diagnostic on the YAML node at fault.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve as resolvePath, dirname } from 'node:path';
import { LineCounter, parseAllDocuments, type YAMLError } from 'yaml';
import { sortDiagnostics, type Diagnostic } from '../core/diagnostics.js';
import { SourceDoc } from './source.js';
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
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const diagnostics: Diagnostic[] = [];
  const jobs: Job[] = [];
  let nonEmpty = 0;
  for (const doc of docs) {
    const source = new SourceDoc(shown, text, doc, lines);
    if (doc.errors.length > 0) {
      diagnostics.push(...doc.errors.map((e) => yamlDiagnostic(e, source)));
      nonEmpty++;
      continue;
    }
    diagnostics.push(...doc.warnings.map((w) => ({ ...yamlDiagnostic(w, source), severity: 'warning' as const })));
    if (doc.contents === null) continue; // an empty document between `---` separators
    nonEmpty++;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const { line, col } = source.start();
      diagnostics.push({ severity: 'error', file: shown, line, col, message: `cannot read document: ${(err as Error).message}`, hint: 'avoid deeply nested aliases' });
      continue;
    }
    const result = validateDocument(value, {
      source,
      dir: opts.dir,
      defaultOutputUri: opts.defaultOutputUri,
      stat: statKind,
      resolvePath: (dir, rel) => (isAbsolute(rel) ? rel : join(dir, rel)),
    });
    diagnostics.push(...result.diagnostics);
    if (result.job) jobs.push(result.job);
  }
  if (nonEmpty === 0) {
    diagnostics.push(fileError(shown, 'file holds no TrainJob document', 'run `trainctl init` for a starter trainjob.yaml'));
  }
  return { jobs, diagnostics };
}

function yamlDiagnostic(e: YAMLError, source: SourceDoc): Diagnostic {
  const { line, col } = source.pos(e.pos[0]);
  const base = { severity: 'error' as const, file: source.file, line, col };
  const raw = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      const key = source.text.slice(e.pos[0], e.pos[1]).split(':')[0]!.trim();
      return { ...base, message: `duplicate key ${JSON.stringify(key)}`, hint: 'each key may appear only once in a mapping' };
    }
    case 'TAB_AS_INDENT':
      return { ...base, message: 'tab used for indentation', hint: 'indent YAML with spaces' };
    case 'BAD_INDENT': case 'MISSING_CHAR': case 'UNEXPECTED_TOKEN': case 'BLOCK_AS_IMPLICIT_KEY': case 'MULTILINE_IMPLICIT_KEY':
      return { ...base, message: `YAML syntax error: ${lowerFirst(raw)}`, hint: 'check indentation and that every `key: value` has a space after the colon' };
    default:
      return { ...base, message: `YAML syntax error: ${lowerFirst(raw)}` };
  }
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

function duplicateJobs(jobs: readonly Job[]): Diagnostic[] {
  const seen = new Map<string, Job>();
  const out: Diagnostic[] = [];
  for (const job of jobs) {
    const key = `${job.project}/${job.name}`;
    const first = seen.get(key);
    if (!first) { seen.set(key, job); continue; }
    out.push({
      severity: 'error', file: job.source.file, line: job.source.line, col: 1,
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

// Validation of one TrainJob document: the schema (precompiled ajv) first, its errors turned into
// diagnostics on the YAML node at fault; then the checks a schema cannot express (placeholders,
// cron, URIs, paths, distributions). Returns diagnostics and, when there are no errors, the Job.
import { pathToFileURL } from 'node:url';
import { CronExpressionParser } from 'cron-parser';
import schemaJson from '../../schema/trainjob.schema.json' with { type: 'json' };
import { didYouMean, type Diagnostic, type Severity } from '../core/diagnostics.js';
import { parseDuration } from '../core/duration.js';
import { placeholders } from '../core/template.js';
import { jsonType, SchemaWalker, type PathSegment, type SchemaNode } from './schema-walk.js';
import type { SourceDoc } from './source.js';
import type { Job, ResolvedSpec } from './types.js';
import validateSchema from './validator.gen.js';

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  propertyName?: string;
}
type AjvValidate = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

const checkSchema = validateSchema as unknown as AjvValidate;
export const walker = new SchemaWalker(schemaJson as SchemaNode);

export interface ValidateContext {
  source: SourceDoc;
  /** Directory of the spec file; relative paths in the spec are read from here. */
  dir: string;
  /** Default output URI for jobs that name none and run locally. */
  defaultOutputUri: string;
  /** Whether a path exists and what it is. */
  stat(path: string): 'dir' | 'file' | 'missing';
  resolvePath(dir: string, rel: string): string;
  /** How a path is shown in messages (relative to the working directory where possible). */
  showPath(abs: string): string;
}

export interface ValidateResult { diagnostics: Diagnostic[]; job?: Job }

export function validateDocument(value: unknown, ctx: ValidateContext): ValidateResult {
  const report = new Reporter(ctx.source);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    report.at([], `a TrainJob document must be a mapping, got ${describe(value)}`, 'start with `apiVersion: trainctl.dev/v1` and `kind: TrainJob`');
    return { diagnostics: report.diagnostics };
  }
  if (!checkSchema(value)) {
    for (const e of dropGuessedRequired(collapseOneOf(checkSchema.errors ?? [], value), value)) schemaDiagnostic(e, value, report);
    return { diagnostics: report.diagnostics };
  }
  const raw = walker.withDefaults(value) as { metadata: { name: string; project: string; description?: string; labels: Record<string, string> }; spec: ResolvedSpec };
  const spec = raw.spec;
  spec.output ??= { uri: spec.compute.provider === 'local' ? ctx.defaultOutputUri : '' };
  spec.code.absPath = ctx.resolvePath(ctx.dir, spec.code.path);
  checkSemantics(spec, ctx, report);
  if (report.errors > 0) return { diagnostics: report.diagnostics };
  // `file://./dir` is relative to the spec file; from here on every file:// URI is absolute.
  spec.output.uri = absoluteFileUri(spec.output.uri, ctx);
  for (const d of spec.data) d.source = absoluteFileUri(d.source, ctx);
  if (spec.triggers) spec.triggers.s3.prefix = absoluteFileUri(spec.triggers.s3.prefix, ctx);
  const at = ctx.source.locate(['metadata', 'name']);
  return {
    diagnostics: report.diagnostics,
    job: {
      name: raw.metadata.name,
      project: raw.metadata.project,
      ...(raw.metadata.description !== undefined ? { description: raw.metadata.description } : {}),
      labels: raw.metadata.labels,
      spec,
      source: { file: ctx.source.file, line: at.line, col: at.col },
    },
  };
}

class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  errors = 0;
  constructor(private readonly source: SourceDoc) {}

  at(path: readonly PathSegment[], message: string, hint?: string, opts: { key?: boolean; severity?: Severity; offset?: number } = {}): void {
    const severity = opts.severity ?? 'error';
    if (severity === 'error') this.errors++;
    const { line, col } = opts.offset !== undefined ? this.source.pos(opts.offset) : this.source.locate(path, opts);
    this.diagnostics.push({ severity, file: this.source.file, line, col, message, ...(hint ? { hint } : {}) });
  }
}

// ---------------------------------------------------------------------------------------------
// Schema errors

function parsePointer(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let v: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const key: PathSegment = Array.isArray(v) ? Number(seg) : seg;
    out.push(key);
    v = v !== null && typeof v === 'object' ? (v as Record<PathSegment, unknown>)[key] : undefined;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v = root;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PathSegment, unknown>)[k] : undefined;
  return v;
}

/** `spec.data[0].source` */
export function displayPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/** A value from the spec, quoted for a message and cut short so one huge value cannot flood it. */
function quote(s: string): string {
  return s.length > 80 ? `${JSON.stringify(`${s.slice(0, 60)}…`)} (${s.length} characters)` : JSON.stringify(s);
}

/** A path for a message, cut short past any length a real one has. */
function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 180)}…` : s;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return `${Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf'}, which is not a finite number`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${quote(v)}`;
  return `${jsonType(v) === 'integer' || jsonType(v) === 'number' ? 'the number' : `the ${typeof v}`} ${String(v)}`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', number: 'a number', integer: 'an integer', boolean: 'true or false',
  object: 'a mapping', array: 'a list', null: 'empty',
};

const isUnder = (p: string, parent: string) => p === parent || p.startsWith(`${parent}/`);

/**
 * ajv reports the errors of every oneOf branch. The schema's one oneOf without a discriminator is
 * ParameterSpace (a list of values, or a distribution): keep only the errors of the branch the
 * value's type selects. Its branch errors directly precede the oneOf error, all under its path.
 */
function collapseOneOf(errors: readonly AjvError[], root: unknown): AjvError[] {
  const out: AjvError[] = [];
  for (const e of errors) {
    if (e.keyword === 'discriminator') continue; // the enum/required error on the tag says it better
    if (e.keyword === 'pattern' && e.propertyName !== undefined) continue; // reported as propertyNames
    if (e.keyword !== 'oneOf') { out.push(e); continue; }
    let i = out.length;
    while (i > 0 && isUnder(out[i - 1]!.instancePath, e.instancePath)) i--;
    const run = out.splice(i);
    const v = valueAt(root, parsePointer(e.instancePath, root));
    const fromDistribution = (r: AjvError) => r.schemaPath.includes('/Distribution/');
    if (Array.isArray(v)) out.push(...run.filter((r) => !fromDistribution(r) && !(r.keyword === 'type' && r.instancePath === e.instancePath)));
    else if (v !== null && typeof v === 'object') out.push(...run.filter(fromDistribution));
    else out.push(e);
  }
  return out;
}

/** The key an unknown key most likely meant, among those allowed where it stands. */
function guessKey(e: AjvError, root: unknown): string | undefined {
  const path = parsePointer(e.instancePath, root);
  return didYouMean(String(e.params.additionalProperty), walker.keysOf(walker.at(path, root) ?? {}));
}

/**
 * `apiversion:` for `apiVersion:` is one mistake, not two: when an unknown key's did-you-mean is
 * a missing required key of the same mapping, the "missing required key" error only repeats it.
 */
function dropGuessedRequired(errors: AjvError[], root: unknown): AjvError[] {
  const guessed = new Set(errors.filter((e) => e.keyword === 'additionalProperties').map((e) => `${e.instancePath}/${guessKey(e, root) ?? ''}`));
  return errors.filter((e) => e.keyword !== 'required' || !guessed.has(`${e.instancePath}/${String(e.params.missingProperty)}`));
}

/** A hint for a value of the right content but the wrong YAML type: `"3"`, `yes`. */
function typeHint(expected: readonly string[], value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const numeric = expected.includes('integer') || expected.includes('number');
  if (numeric && value.trim() !== '' && Number.isFinite(Number(value))) return `write it as a plain number: ${value.trim()}`;
  if (expected.includes('boolean')) {
    if (value === 'true' || value === 'false') return `write it as a plain ${value}, without quotes`;
    if (/^(yes|no|on|off|y|n)$/i.test(value)) return 'YAML 1.2 reads yes/no/on/off as strings; write true or false';
  }
  return undefined;
}

function schemaDiagnostic(e: AjvError, root: unknown, report: Reporter): void {
  const path = parsePointer(e.instancePath, root);
  const where = displayPath(path) || 'the document';
  const value = valueAt(root, path);
  const p = e.params;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const allowed = walker.keysOf(walker.at(path, root) ?? {});
      // A field of another provider (`instanceType` under `provider: local`) says which.
      const elsewhere = walker.variantsDefining(path, root, key);
      const guess = didYouMean(key, allowed);
      const hint = elsewhere
        ? `${key} applies to ${elsewhere.tag} ${elsewhere.values.join(' and ')}, not ${elsewhere.current}`
        : guess ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}`;
      report.at([...path, key], `unknown key ${quote(key)} in ${where}`, hint, { key: true });
      return;
    }
    case 'required': {
      const key = String(p.missingProperty);
      const child = walker.at([...path, key], root);
      const hint = child?.description ? `${key}: ${firstSentence(child.description)}` : undefined;
      report.at(path, `missing required key "${key}" in ${where}`, hint, { key: true });
      return;
    }
    case 'type': {
      const expected = String(p.type).split(',');
      report.at(path, `${where} must be ${orList(expected.map((t) => TYPE_NAMES[t] ?? t))}, got ${describe(value)}`, typeHint(expected, value));
      return;
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const guess = typeof value === 'string' ? didYouMean(value, allowed) : undefined;
      report.at(path, `${where} must be one of ${allowed.join(', ')}; got ${describe(value)}`, guess ? `did you mean "${guess}"?` : undefined);
      return;
    }
    case 'const':
      report.at(path, `${where} must be ${JSON.stringify(p.allowedValue)}, got ${describe(value)}`);
      return;
    case 'pattern': {
      // A named format (Name, Duration) is explained by its definition's description; the
      // field's own description (what the field is for) would not say what went wrong.
      const format = walker.formatOf(path, root);
      const what = format?.title ? format.title.toLowerCase() : 'value';
      report.at(path, `${where}: ${quote(String(value))} is not a valid ${what}`, format?.description ?? `expected the form /${String(p.pattern)}/`);
      return;
    }
    case 'propertyNames': {
      const key = String(p.propertyName);
      const pattern = walker.at(path, root)?.propertyNames?.pattern;
      const hint = pattern === IDENTIFIER ? 'use letters, digits and underscores, not starting with a digit' : `expected the form /${String(pattern)}/`;
      report.at([...path, key], `${quote(key)} is not a valid name in ${where}`, hint, { key: true });
      return;
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      report.at(path, `${where} must be ${String(p.comparison)} ${String(p.limit)}, got ${String(value)}`);
      return;
    case 'minProperties':
      report.at(path, `${where} must not be empty`);
      return;
    case 'minItems': case 'minLength':
      report.at(path, Number(p.limit) === 1 ? `${where} must not be empty` : `${where} must have at least ${String(p.limit)} ${e.keyword === 'minItems' ? 'items' : 'characters'}`);
      return;
    case 'maxItems': case 'maxLength':
      report.at(path, `${where} must have at most ${String(p.limit)} ${e.keyword === 'maxItems' ? 'items' : 'characters'}`);
      return;
    case 'uniqueItems': {
      const [first, second] = [Number(p.i), Number(p.j)].sort((a, b) => a - b) as [number, number];
      report.at([...path, second], `${where} lists the same value twice (items ${first + 1} and ${second + 1})`);
      return;
    }
    case 'oneOf':
      report.at(path, `${where} must be a non-empty list of values or a distribution, got ${describe(value)}`, 'e.g. `[0.1, 0.01]` or `{ distribution: log_uniform, min: 0.0001, max: 0.1 }`');
      return;
    default:
      report.at(path, `${where} ${e.message ?? 'is invalid'}`);
  }
}

const IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]*$';

function orList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function firstSentence(text: string): string {
  const i = text.indexOf('. ');
  return i > 0 ? text.slice(0, i + 1) : text;
}

// ---------------------------------------------------------------------------------------------
// Checks beyond the schema

function checkSemantics(spec: ResolvedSpec, ctx: ValidateContext, report: Reporter): void {
  checkHyperparameters(spec, ctx, report);
  checkCommand(spec, ctx, report);
  checkPaths(spec, ctx, report);
  checkUris(spec, report);
  checkMetrics(spec, report);
  checkSchedule(spec, report);
  checkTriggers(spec, report);
  checkCompute(spec, report);
  checkDurations(spec, report);
}

function parameterNames(spec: ResolvedSpec): Set<string> {
  const hp = spec.hyperparameters;
  if (hp.strategy === 'list') return new Set((hp.trials ?? []).flatMap((t) => Object.keys(t)));
  return new Set(Object.keys(hp.parameters));
}

function checkHyperparameters(spec: ResolvedSpec, ctx: ValidateContext, report: Reporter): void {
  const hp = spec.hyperparameters;
  const base = ['spec', 'hyperparameters'];
  const given = (k: string) => ctx.source.doc.hasIn([...base, k]);
  if (hp.strategy === 'random' && hp.samples === undefined) {
    report.at([...base, 'strategy'], 'strategy random needs `samples`', 'add `samples: N`, the number of trials to draw', { });
  }
  if (hp.strategy !== 'random') {
    for (const k of ['samples', 'seed']) {
      if (given(k)) report.at([...base, k], `\`${k}\` is only read by strategy random; strategy is ${hp.strategy}`, undefined, { key: true, severity: 'warning' });
    }
  }
  if (hp.strategy === 'list') {
    if (!hp.trials) report.at([...base, 'strategy'], 'strategy list needs `trials`', 'add `trials: [ {lr: 0.1}, {lr: 0.01} ]`');
    if (given('parameters')) report.at([...base, 'parameters'], 'strategy list takes its values from `trials`, not `parameters`', 'move the values into `trials`', { key: true });
    const seen = new Map<string, number>();
    (hp.trials ?? []).forEach((t, i) => {
      const key = JSON.stringify(Object.entries(t).sort(([a], [b]) => (a < b ? -1 : 1)));
      const first = seen.get(key);
      if (first !== undefined) report.at([...base, 'trials', i], `trial ${i + 1} repeats trial ${first + 1}`, 'each trial in the list must differ');
      else seen.set(key, i);
    });
  } else if (hp.trials) {
    report.at([...base, 'trials'], `\`trials\` is only read by strategy list; strategy is ${hp.strategy}`, 'set `strategy: list` or use `parameters`', { key: true });
  }
  for (const [name, space] of Object.entries(hp.parameters)) {
    const at = [...base, 'parameters', name];
    if (Array.isArray(space) || space === undefined) continue;
    if (hp.strategy !== 'random') {
      report.at(at, `parameter "${name}" is a distribution, which only strategy random can draw from`, 'give a list of values, or set `strategy: random` with `samples`');
      continue;
    }
    if (space.min > space.max) report.at([...at, 'min'], `parameter "${name}": min ${space.min} is greater than max ${space.max}`);
    if (space.distribution === 'log_uniform' && space.min <= 0) report.at([...at, 'min'], `parameter "${name}": log_uniform needs min > 0, got ${space.min}`);
    if (space.distribution === 'int_uniform' && (!Number.isInteger(space.min) || !Number.isInteger(space.max))) {
      report.at(at, `parameter "${name}": int_uniform needs integer min and max`);
    }
  }
}

function checkCommand(spec: ResolvedSpec, ctx: ValidateContext, report: Reporter): void {
  const names = parameterNames(spec);
  const cmdPath = ['spec', 'code', 'command'];
  const reported = new Set<string>();
  for (const ph of placeholders(spec.code.command)) {
    if (reported.has(ph.name)) continue;
    reported.add(ph.name);
    if (names.has(ph.name)) {
      if (spec.hyperparameters.strategy === 'list') {
        const i = (spec.hyperparameters.trials ?? []).findIndex((t) => !Object.hasOwn(t, ph.name));
        if (i >= 0) report.at(['spec', 'hyperparameters', 'trials', i], `trial ${i + 1} has no value for {${ph.name}}, which code.command uses`);
      }
      continue;
    }
    const guess = didYouMean(ph.name, names);
    report.at(cmdPath, `placeholder {${ph.name}} in code.command names no hyperparameter`,
      guess ? `did you mean {${guess}}?` : names.size ? `parameters: ${[...names].join(', ')}` : 'define it under hyperparameters.parameters',
      placeholderAt(ctx.source, cmdPath, ph.name));
  }
  const resumePath = ['spec', 'checkpoint', 'resumeArg'];
  for (const name of new Set(placeholders(spec.checkpoint.resumeArg).map((ph) => ph.name))) {
    if (name !== 'path') report.at(resumePath, `placeholder {${name}} in checkpoint.resumeArg is unknown`, 'the only placeholder there is {path}', placeholderAt(ctx.source, resumePath, name));
  }
}

/** Points a diagnostic at `{name}` inside the string at `path`, when the source shows it as written. */
function placeholderAt(source: SourceDoc, path: readonly PathSegment[], name: string): { offset?: number } {
  const src = source.sourceOf(path);
  const i = src?.text.indexOf(`{${name}}`) ?? -1;
  return src && i >= 0 ? { offset: src.offset + i } : {};
}

function checkRelative(path: readonly PathSegment[], value: string, what: string, report: Reporter): void {
  if (value.startsWith('/') || /^[A-Za-z]:[\\/]/.test(value)) report.at(path, `${what} must be a relative path, got ${quote(value)}`, 'it is read inside the code directory on each node');
  else if (value.split(/[\\/]/).includes('..')) report.at(path, `${what} must stay inside the code directory, got ${quote(value)}`, 'remove the `..` segments');
}

function checkPaths(spec: ResolvedSpec, ctx: ValidateContext, report: Reporter): void {
  const kind = ctx.stat(spec.code.absPath);
  const relative = spec.code.path !== spec.code.absPath;
  if (kind === 'missing') report.at(['spec', 'code', 'path'], `code directory ${quote(spec.code.path)} does not exist`, relative ? `it is read relative to the spec file: looked for ${clip(ctx.showPath(spec.code.absPath))}` : undefined);
  else if (kind === 'file') report.at(['spec', 'code', 'path'], `code.path ${quote(spec.code.path)} is a file, not a directory`, 'point it at the directory that holds the code');
  checkRelative(['spec', 'checkpoint', 'dir'], spec.checkpoint.dir, 'checkpoint.dir', report);
  spec.data.forEach((d, i) => checkRelative(['spec', 'data', i, 'target'], d.target, `data[${i}].target`, report));
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Problems with a storage URI, or undefined. */
export function uriProblem(uri: string): { message: string; hint?: string } | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(uri);
  if (!m) return { message: `${quote(uri)} is not a URI`, hint: 'use s3://bucket/prefix/ or file:///path/' };
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme !== 's3' && scheme !== 'file') return { message: `unsupported URI scheme "${scheme}://"`, hint: 'use s3://bucket/prefix/ or file:///path/' };
  if (rest.split('/').includes('..')) return { message: `${quote(uri)} contains a ".." segment`, hint: 'write the path without `..`' };
  // file://host/... is a path on another machine, and file://dir/ a common slip for file://./dir/.
  if (scheme === 'file' && !rest.startsWith('/') && !rest.startsWith('./')) {
    return { message: `${quote(uri)} names no absolute or ./relative path`, hint: 'use file:///absolute/path/ or file://./dir/ (relative to the spec file)' };
  }
  if (scheme === 's3') {
    const bucket = rest.split('/')[0] ?? '';
    if (!BUCKET.test(bucket)) return { message: `invalid S3 bucket name ${quote(bucket)}`, hint: 'bucket names have 3–63 lowercase letters, digits, dots and dashes' };
  }
  return undefined;
}

/** `file://./dir` → `file:///abs/of/spec-dir/dir`; any other URI unchanged. */
function absoluteFileUri(uri: string, ctx: ValidateContext): string {
  if (!/^file:\/\/\.\//i.test(uri)) return uri;
  const rel = uri.slice('file://'.length);
  const href = pathToFileURL(ctx.resolvePath(ctx.dir, rel)).href;
  return rel.endsWith('/') && !href.endsWith('/') ? `${href}/` : href;
}

function checkUris(spec: ResolvedSpec, report: Reporter): void {
  spec.data.forEach((d, i) => {
    const problem = uriProblem(d.source);
    if (problem) report.at(['spec', 'data', i, 'source'], `data[${i}].source: ${problem.message}`, problem.hint);
  });
  const remote = spec.compute.provider !== 'local';
  if (!spec.output.uri) {
    report.at(['spec'], `spec.output is required for provider ${spec.compute.provider}`, 'add `output: { uri: s3://bucket/runs/ }`', { key: true });
    return;
  }
  const problem = uriProblem(spec.output.uri);
  if (problem) report.at(['spec', 'output', 'uri'], `output.uri: ${problem.message}`, problem.hint);
  else if (remote && !spec.output.uri.startsWith('s3://')) {
    report.at(['spec', 'output', 'uri'], `provider ${spec.compute.provider} needs an s3:// output store, got ${quote(spec.output.uri)}`, 'cloud nodes cannot write to this machine\'s disk');
  }
  if (remote) {
    spec.data.forEach((d, i) => {
      if (d.source.startsWith('file://')) report.at(['spec', 'data', i, 'source'], `provider ${spec.compute.provider} cannot stage data from ${quote(d.source)}`, 'upload it with `trainctl s3 upload` and use its s3:// URI');
    });
  }
}

function checkMetrics(spec: ResolvedSpec, report: Reporter): void {
  for (const [name, pattern] of Object.entries(spec.metrics.patterns)) {
    if (pattern === undefined) continue;
    const at = ['spec', 'metrics', 'patterns', name];
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch (err) {
      report.at(at, `metrics.patterns.${name} is not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
      continue;
    }
    if (new RegExp(`${re.source}|`).exec('')!.length < 2) report.at(at, `metrics.patterns.${name} has no capture group`, 'wrap the number in parentheses, e.g. `loss[=:]\\s*([0-9.eE+-]+)`');
  }
  if (spec.metrics.earlyStopping && !spec.metrics.objective) {
    report.at(['spec', 'metrics', 'earlyStopping'], 'metrics.earlyStopping needs metrics.objective', 'add `objective: { metric: val_loss, goal: minimize }`', { key: true });
  }
}

const CRON_MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

function checkSchedule(spec: ResolvedSpec, report: Reporter): void {
  const s = spec.schedule;
  if (!s) return;
  let tzOk = true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: s.timezone });
  } catch {
    tzOk = false;
    report.at(['spec', 'schedule', 'timezone'], `unknown time zone ${quote(s.timezone)}`, 'use an IANA name such as UTC or Europe/Berlin');
  }
  const fields = s.cron.trim().split(/\s+/);
  const macro = CRON_MACROS[s.cron.trim().toLowerCase()];
  if (macro) {
    report.at(['spec', 'schedule', 'cron'], `cron shorthand ${quote(s.cron.trim())} is not supported`, `write the five fields: "${macro}"`);
  } else if (fields.length !== 5) {
    report.at(['spec', 'schedule', 'cron'], `cron expression must have 5 fields (minute hour day month weekday), got ${fields.length}`, 'e.g. "0 2 * * *" for 02:00 every day');
  } else {
    try {
      CronExpressionParser.parse(s.cron, tzOk ? { tz: s.timezone } : {});
    } catch (err) {
      report.at(['spec', 'schedule', 'cron'], `invalid cron expression ${quote(s.cron)}: ${(err as Error).message}`, 'fields: minute hour day-of-month month day-of-week');
    }
  }
}

function checkTriggers(spec: ResolvedSpec, report: Reporter): void {
  const t = spec.triggers;
  if (!t) return;
  const problem = uriProblem(t.s3.prefix);
  if (problem) report.at(['spec', 'triggers', 's3', 'prefix'], `triggers.s3.prefix: ${problem.message}`, problem.hint);
  // one policy for all of a job's runs, whatever started them
  if (spec.schedule && t.concurrencyPolicy !== undefined) {
    report.at(['spec', 'triggers', 'concurrencyPolicy'], 'triggers.concurrencyPolicy is for jobs without a schedule', 'set schedule.concurrencyPolicy: it covers triggered runs too', { key: true });
  }
}

function checkCompute(spec: ResolvedSpec, report: Reporter): void {
  const c = spec.compute;
  if (c.provider === 'runpod' && c.gpuType === undefined && c.gpuTypes === undefined) {
    report.at(['spec', 'compute'], 'compute for runpod needs `gpuType` or `gpuTypes`', 'e.g. `gpuType: NVIDIA GeForce RTX 4090`', { key: true });
  }
  if (c.provider === 'aws' && c.market === 'on-demand' && c.maxPricePerHour !== undefined) {
    report.at(['spec', 'compute', 'maxPricePerHour'], 'maxPricePerHour applies to spot only; market is on-demand', undefined, { key: true, severity: 'warning' });
  }
  if (c.provider === 'local' && Array.isArray(c.gpus) && c.gpus.length > 0 && spec.distributed.nprocPerNode > c.gpus.length) {
    report.at(['spec', 'distributed', 'nprocPerNode'], `nprocPerNode ${spec.distributed.nprocPerNode} is more than the ${c.gpus.length} GPU${c.gpus.length === 1 ? '' : 's'} listed in compute.gpus`, undefined, { severity: 'warning' });
  }
}

function checkDurations(spec: ResolvedSpec, report: Reporter): void {
  const durations: [PathSegment[], string | undefined][] = [
    [['spec', 'schedule', 'startingDeadline'], spec.schedule?.startingDeadline],
    [['spec', 'limits', 'maxDuration'], spec.limits.maxDuration],
  ];
  for (const [path, value] of durations) {
    if (value !== undefined && parseDuration(value) === 0) report.at(path, `${displayPath(path)} must be longer than 0`);
  }
}

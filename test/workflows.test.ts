// The GitHub Actions files (.github/workflows, the composite action, examples/github) checked
// offline: actionlint is a Go binary outside Debian and the test run has no network, so this is
// a schema of the parts we use (ajv) plus the rules that matter here: actions pinned to a tag or
// sha, every `trainctl <command> [verb] --flag` in a script exists, secrets and other expressions
// never spliced into a script, expressions balanced, schedule crons valid.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { COMMANDS } from '../src/cli/commands.js';
import { repoRoot } from './helpers.js';

const Ajv = AjvModule.default ?? AjvModule;

const yamlIn = (dir: string, nested = false): string[] => {
  let entries: string[];
  try {
    entries = readdirSync(join(repoRoot, dir));
  } catch {
    return [];
  }
  return entries.flatMap((e) => (nested ? yamlIn(join(dir, e)).filter((f) => /action\.ya?ml$/.test(f)) : /\.ya?ml$/.test(e) ? [join(dir, e)] : []));
};
const WORKFLOWS = [...yamlIn('.github/workflows'), ...yamlIn('examples/github')];
const ACTIONS = yamlIn('.github/actions', true);

const stringMap = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } };
const permissionLevel = { enum: ['read', 'write', 'none'] };
const permissions = {
  oneOf: [
    { enum: ['read-all', 'write-all'] },
    {
      type: 'object', additionalProperties: false,
      properties: Object.fromEntries(['actions', 'attestations', 'checks', 'contents', 'deployments', 'discussions', 'id-token', 'issues', 'packages', 'pages', 'pull-requests', 'repository-projects', 'security-events', 'statuses'].map((k) => [k, permissionLevel])),
    },
  ],
};
const step = (composite: boolean) => ({
  type: 'object', additionalProperties: false,
  properties: {
    name: { type: 'string' }, id: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }, if: { type: ['string', 'boolean'] },
    uses: { type: 'string', minLength: 1 }, run: { type: 'string', minLength: 1 }, with: stringMap, env: stringMap,
    shell: { enum: ['bash', 'sh', 'pwsh', 'python'] }, 'working-directory': { type: 'string' },
    'continue-on-error': { type: ['boolean', 'string'] }, 'timeout-minutes': { type: ['number', 'string'] },
  },
  oneOf: [{ required: ['uses'], not: { required: ['run'] } }, { required: ['run'], not: { required: ['uses'] } }],
  // a composite action's run steps must name their shell
  ...(composite ? { if: { required: ['run'] }, then: { required: ['shell'] } } : {}),
});
const paths = { type: 'array', items: { type: 'string' } };
const pushLike = { type: ['object', 'null'], additionalProperties: false, properties: { branches: paths, 'branches-ignore': paths, paths, 'paths-ignore': paths, tags: paths, types: paths } };
const workflowSchema = {
  type: 'object', additionalProperties: false, required: ['on', 'jobs'],
  properties: {
    name: { type: 'string' }, 'run-name': { type: 'string' }, permissions, env: stringMap,
    concurrency: { oneOf: [{ type: 'string' }, { type: 'object', additionalProperties: false, required: ['group'], properties: { group: { type: 'string' }, 'cancel-in-progress': { type: ['boolean', 'string'] } } }] },
    on: {
      type: 'object', additionalProperties: false, minProperties: 1,
      properties: {
        push: pushLike, pull_request: pushLike, workflow_dispatch: { type: ['object', 'null'] },
        schedule: { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: false, required: ['cron'], properties: { cron: { type: 'string' } } } },
      },
    },
    jobs: {
      type: 'object', minProperties: 1,
      additionalProperties: {
        type: 'object', additionalProperties: false, required: ['runs-on', 'steps'],
        properties: {
          name: { type: 'string' }, 'runs-on': { type: 'string' }, container: { type: ['string', 'object'] }, permissions, needs: { type: ['string', 'array'] },
          if: { type: ['string', 'boolean'] }, env: stringMap, environment: { type: ['string', 'object'] }, 'timeout-minutes': { type: 'number' },
          concurrency: { type: ['string', 'object'] }, outputs: stringMap, strategy: { type: 'object' },
          steps: { type: 'array', minItems: 1, items: step(false) },
        },
      },
    },
  },
};
const actionSchema = {
  type: 'object', additionalProperties: false, required: ['name', 'description', 'runs'],
  properties: {
    name: { type: 'string' }, description: { type: 'string' }, author: { type: 'string' },
    inputs: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, required: ['description'], properties: { description: { type: 'string' }, required: { type: 'boolean' }, default: { type: 'string' } } } },
    outputs: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, required: ['description', 'value'], properties: { description: { type: 'string' }, value: { type: 'string' } } } },
    runs: { type: 'object', additionalProperties: false, required: ['using', 'steps'], properties: { using: { const: 'composite' }, steps: { type: 'array', minItems: 1, items: step(true) } } },
  },
};
const ajv = new Ajv({ allErrors: true, strict: false });
const checkWorkflow = ajv.compile(workflowSchema);
const checkAction = ajv.compile(actionSchema);

interface Step { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, unknown> }

function load(file: string): Record<string, unknown> {
  const doc = parseDocument(readFileSync(join(repoRoot, file), 'utf8'));
  expect(doc.errors.map((e) => e.message)).toEqual([]);
  return doc.toJS() as Record<string, unknown>;
}

function stepsOf(file: string, data: Record<string, unknown>): Step[] {
  if (ACTIONS.includes(file)) return (data.runs as { steps: Step[] }).steps;
  return Object.values(data.jobs as Record<string, { steps: Step[] }>).flatMap((j) => j.steps);
}

/** Every string in a document, for the expression check. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]);
  return [];
}

/** `trainctl <command> [verb] [--flags]` invocations in a script, with line continuations joined. */
export function invocations(script: string): { command: string; verb?: string; flags: string[] }[] {
  const out: { command: string; verb?: string; flags: string[] }[] = [];
  for (const line of script.replace(/\\\n/g, ' ').split('\n')) {
    if (/^\s*#/.test(line)) continue;
    for (const m of line.matchAll(/(?:^|[\s;&|({])trainctl\s+([a-z][-a-z0-9]*)((?:\s+[^\s;&|)>]+)*)/g)) {
      const words = m[2]!.trim().split(/\s+/).filter(Boolean);
      const verb = words[0] && /^[a-z][-a-z0-9]*$/.test(words[0]) ? words[0] : undefined;
      out.push({ command: m[1]!, ...(verb ? { verb } : {}), flags: words.filter((w) => w.startsWith('-')).map((w) => w.replace(/=.*$/, '')) });
    }
  }
  return out;
}

const PINNED = /^(\.\/.+|docker:\/\/.+@sha256:[0-9a-f]{64}|[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(\/[^@]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40}))$/;

describe('GitHub Actions files', () => {
  it('exist: ci, the composite action, and the plan/apply/reconcile examples', () => {
    expect(WORKFLOWS).toEqual(expect.arrayContaining(['.github/workflows/ci.yml', 'examples/github/plan.yml', 'examples/github/apply.yml', 'examples/github/reconcile.yml']));
    expect(ACTIONS).toEqual(['.github/actions/trainctl/action.yml']);
  });

  describe.each([...WORKFLOWS, ...ACTIONS])('%s', (file) => {
    const data = load(file);
    const steps = stepsOf(file, data);

    it('matches the schema of the parts we use', () => {
      const check = ACTIONS.includes(file) ? checkAction : checkWorkflow;
      const ok = check(data);
      expect(ok ? [] : check.errors).toEqual([]);
    });

    it('pins every action to a version tag or a commit sha', () => {
      for (const s of steps) if (s.uses !== undefined) expect(s.uses, `${file}: uses ${s.uses}`).toMatch(PINNED);
    });

    it('calls only trainctl commands, verbs and flags that exist', () => {
      for (const s of steps.filter((x) => x.run)) {
        for (const inv of invocations(s.run!)) {
          const cmd = COMMANDS.find((c) => c.name === inv.command);
          expect(cmd, `${file}: trainctl ${inv.command}`).toBeDefined();
          let options = cmd!.options;
          if (cmd!.verbs) {
            const verb = cmd!.verbs.find((v) => v.name === inv.verb);
            expect(verb, `${file}: trainctl ${inv.command} ${inv.verb ?? ''}`).toBeDefined();
            options = verb!.options;
          }
          const known = new Set(['--help', '-h', ...Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])])]);
          for (const f of inv.flags) expect(known.has(f), `${file}: trainctl ${inv.command} ${f}`).toBe(true);
        }
      }
    });

    it('keeps secrets and expressions out of scripts: they reach a script only through env', () => {
      for (const s of steps.filter((x) => x.run)) {
        expect(s.run, `${file}: a run script`).not.toMatch(/\$\{\{/);
      }
      // secrets only as with/env values, never in a name, an if or a script
      const allowed = new Set(steps.flatMap((s) => [...Object.values(s.with ?? {}), ...Object.values(s.env ?? {})]).filter((v) => typeof v === 'string'));
      for (const str of strings(data)) if (/secrets\./.test(str) && /\$\{\{/.test(str)) expect(allowed.has(str), `${file}: ${str}`).toBe(true);
    });

    it('balances every ${{ … }} expression', () => {
      for (const str of strings(data)) {
        let depth = 0;
        for (const tok of str.matchAll(/\$\{\{|\}\}/g)) {
          depth += tok[0] === '${{' ? 1 : -1;
          expect(depth === 0 || depth === 1, `${file}: ${str}`).toBe(true);
        }
        expect(depth, `${file}: ${str}`).toBe(0);
      }
    });

    it('has valid five-field crons on schedule', () => {
      const on = (data.on ?? {}) as { schedule?: { cron: string }[] };
      for (const { cron } of on.schedule ?? []) {
        expect(cron.trim().split(/\s+/)).toHaveLength(5);
        expect(() => CronExpressionParser.parse(cron, { tz: 'UTC' })).not.toThrow();
      }
    });
  });

  it('the invocation scanner finds commands, verbs and flags, and skips comments and paths', () => {
    expect(invocations('trainctl plan "${files[@]}" --detailed-exitcode \\\n  --output markdown > "$RUNNER_TEMP/trainctl-plan.md"')).toEqual([
      { command: 'plan', flags: ['--detailed-exitcode', '--output'] }]);
    expect(invocations('# trainctl bogus\necho "$RUNNER_TEMP/trainctl-bin/trainctl"\n{ trainctl s3 sync a b --dry-run; }')).toEqual([{ command: 's3', verb: 'sync', flags: ['--dry-run'] }]);
  });

  it('the composite action treats exit code 2 as changes pending, not a failure', () => {
    const run = stepsOf(ACTIONS[0]!, load(ACTIONS[0]!)).find((s) => s.run?.includes('trainctl plan'))!.run!;
    expect(run).toContain('--detailed-exitcode');
    expect(run).toMatch(/if \[ "\$code" -eq 2 \]; then exit 0; fi/);
    expect(run).toContain('$GITHUB_STEP_SUMMARY');
  });

  it('examples use OIDC role assumption with id-token: write, and no long-lived keys', () => {
    for (const file of WORKFLOWS.filter((f) => f.startsWith('examples/'))) {
      const data = load(file);
      expect((data.permissions as Record<string, string>)['id-token'], file).toBe('write');
      const aws = stepsOf(file, data).find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
      expect(aws?.with?.['role-to-assume'], file).toBeDefined();
      expect(JSON.stringify(data), file).not.toMatch(/aws-secret-access-key|AWS_SECRET_ACCESS_KEY/);
    }
  });
});

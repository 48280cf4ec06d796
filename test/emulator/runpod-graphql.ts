// The small part of GraphQL the RunPod emulator needs: parse one operation (query or mutation,
// variables, aliases, arguments with literals, lists, objects and variables), and project resolved
// values onto its selection sets. Fragments and directives are refused, as the RunPod clients use
// none. A field the type does not have is a validation error, as on a real server.

export class GraphqlError extends Error {
  /** 400: the document is not valid (syntax, unknown field, missing variable); 200: a resolver's error. */
  constructor(message: string, readonly status: 400 | 200 = 400) {
    super(message);
  }
}

export type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

export interface Field {
  alias: string;
  name: string;
  args: Record<string, Value>;
  selections?: Field[];
}

export interface Operation {
  kind: 'query' | 'mutation';
  name?: string;
  selections: Field[];
}

type Token = { t: 'punct' | 'name' | 'number' | 'string'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/[\s,\uFEFF]/.test(c)) { i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (src.startsWith('...', i)) { out.push({ t: 'punct', v: '...' }); i += 3; continue; }
    if ('{}()[]:!$=@'.includes(c)) { out.push({ t: 'punct', v: c }); i++; continue; }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))![0];
      out.push({ t: 'name', v: m });
      i += m.length;
      continue;
    }
    if (/[-0-9]/.test(c)) {
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i));
      if (!m) throw new GraphqlError(`Syntax Error: Invalid number at ${i}.`);
      out.push({ t: 'number', v: m[0] });
      i += m[0].length;
      continue;
    }
    if (c === '"') {
      if (src.startsWith('"""', i)) {
        const end = src.indexOf('"""', i + 3);
        if (end < 0) throw new GraphqlError('Syntax Error: Unterminated string.');
        out.push({ t: 'string', v: src.slice(i + 3, end) });
        i = end + 3;
        continue;
      }
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= src.length || src[j] === '\n') throw new GraphqlError('Syntax Error: Unterminated string.');
        const d = src[j]!;
        if (d === '"') break;
        if (d === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '"': '"', '\\': '\\', '/': '/' };
          if (e === 'u') { s += String.fromCharCode(parseInt(src.slice(j + 2, j + 6), 16)); j += 6; continue; }
          if (e === undefined || !(e in map)) throw new GraphqlError(`Syntax Error: Invalid character escape sequence: \\${e ?? ''}.`);
          s += map[e];
          j += 2;
          continue;
        }
        s += d;
        j++;
      }
      out.push({ t: 'string', v: s });
      i = j + 1;
      continue;
    }
    throw new GraphqlError(`Syntax Error: Unexpected character: "${c}".`);
  }
  return out;
}

/** Parses the operation (the named one, or the only one) and substitutes its variables. */
export function parseOperation(query: string, variables: Record<string, unknown> = {}, operationName?: string): Operation {
  const toks = tokenize(query);
  let p = 0;
  const peek = () => toks[p];
  const next = () => {
    const t = toks[p++];
    if (!t) throw new GraphqlError('Syntax Error: Unexpected <EOF>.');
    return t;
  };
  const expect = (v: string) => {
    const t = next();
    if (t.v !== v || (t.t !== 'punct' && t.t !== 'name')) throw new GraphqlError(`Syntax Error: Expected "${v}", found "${t.v}".`);
  };
  const isPunct = (v: string) => peek()?.t === 'punct' && peek()!.v === v;
  const name = () => {
    const t = next();
    if (t.t !== 'name') throw new GraphqlError(`Syntax Error: Expected Name, found "${t.v}".`);
    return t.v;
  };
  const declared = new Set<string>();

  const value = (): Value => {
    const t = next();
    if (t.t === 'punct' && t.v === '$') {
      const v = name();
      if (!declared.has(v)) throw new GraphqlError(`Variable "$${v}" is not defined.`);
      return (variables[v] ?? null) as Value;
    }
    if (t.t === 'number') return Number(t.v);
    if (t.t === 'string') return t.v;
    if (t.t === 'name') return t.v === 'true' ? true : t.v === 'false' ? false : t.v === 'null' ? null : t.v;
    if (t.v === '[') {
      const list: Value[] = [];
      while (!isPunct(']')) list.push(value());
      next();
      return list;
    }
    if (t.v === '{') {
      const obj: Record<string, Value> = {};
      while (!isPunct('}')) {
        const k = name();
        expect(':');
        obj[k] = value();
      }
      next();
      return obj;
    }
    throw new GraphqlError(`Syntax Error: Unexpected "${t.v}".`);
  };

  const typeRef = (): void => {
    if (isPunct('[')) {
      next();
      typeRef();
      expect(']');
    } else name();
    if (isPunct('!')) next();
  };

  const selectionSet = (): Field[] => {
    expect('{');
    const fields: Field[] = [];
    while (!isPunct('}')) {
      if (isPunct('...')) throw new GraphqlError('fragments are not supported by this emulator');
      const alias = name();
      let fname = alias;
      if (isPunct(':')) {
        next();
        fname = name();
      }
      const args: Record<string, Value> = {};
      if (isPunct('(')) {
        next();
        while (!isPunct(')')) {
          const k = name();
          expect(':');
          args[k] = value();
        }
        next();
      }
      if (isPunct('@')) throw new GraphqlError('directives are not supported by this emulator');
      const field: Field = { alias, name: fname, args };
      if (isPunct('{')) field.selections = selectionSet();
      fields.push(field);
    }
    next();
    return fields;
  };

  const ops: Operation[] = [];
  while (p < toks.length) {
    declared.clear();
    let kind: Operation['kind'] = 'query';
    let opName: string | undefined;
    if (peek()?.t === 'name') {
      const k = name();
      if (k !== 'query' && k !== 'mutation') throw new GraphqlError(`Syntax Error: Unexpected Name "${k}".`);
      kind = k;
      if (peek()?.t === 'name') opName = name();
      if (isPunct('(')) {
        next();
        while (!isPunct(')')) {
          expect('$');
          const v = name();
          expect(':');
          typeRef();
          declared.add(v);
          if (isPunct('=')) {
            next();
            const d = value();
            if (variables[v] === undefined) variables = { ...variables, [v]: d };
          }
        }
        next();
      }
    }
    ops.push({ kind, ...(opName ? { name: opName } : {}), selections: selectionSet() });
  }
  if (ops.length === 0) throw new GraphqlError('Syntax Error: Unexpected <EOF>.');
  const op = operationName ? ops.find((o) => o.name === operationName) : ops.length === 1 ? ops[0] : undefined;
  if (!op) throw new GraphqlError(operationName ? `Unknown operation named "${operationName}".` : 'Must provide operation name if query contains multiple operations.');
  return op;
}

/**
 * A resolved value: plain data, or (for fields with arguments) a function of them. `typeName`
 * names the object type in "Cannot query field" errors.
 */
export type Resolved = string | number | boolean | null | undefined | Resolved[] | ResolvedObject | ((args: Record<string, Value>) => Resolved);
export interface ResolvedObject { __typename: string; [field: string]: Resolved }

/** The selection of `fields` over `value`; a field the object lacks is a validation error. */
export function project(value: Resolved, fields: Field[] | undefined, path: string): Value {
  if (typeof value === 'function') throw new Error(`bug: unresolved function at ${path}`);
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map((v, i) => project(v, fields, `${path}.${i}`));
  if (typeof value !== 'object') {
    if (fields) throw new GraphqlError(`Field "${path}" must not have a selection since its type has no subfields.`);
    return value;
  }
  if (!fields) throw new GraphqlError(`Field "${path}" of type "${value.__typename}" must have a selection of subfields.`);
  const out: Record<string, Value> = {};
  for (const f of fields) {
    if (f.name === '__typename') { out[f.alias] = value.__typename; continue; }
    if (!(f.name in value)) throw new GraphqlError(`Cannot query field "${f.name}" on type "${value.__typename}".`);
    let v = value[f.name];
    if (typeof v === 'function') v = v(f.args);
    out[f.alias] = project(v, f.selections, f.alias);
  }
  return out;
}

// Walks schema/trainjob.schema.json alongside a value: which sub-schema applies at a path
// (following $ref and choosing oneOf branches by discriminator or by type), and the defaults.
// One walker serves both defaulting and diagnostics, so the schema stays the single source.

export interface SchemaNode {
  $ref?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  discriminator?: { propertyName: string };
  definitions?: Record<string, SchemaNode>;
  required?: string[];
  pattern?: string;
  propertyNames?: { pattern?: string };
  [k: string]: unknown;
}

export type PathSegment = string | number;

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(s: SchemaNode, v: unknown): boolean {
  if (s.type === undefined) return true;
  const t = jsonType(v);
  const types = Array.isArray(s.type) ? s.type : [s.type];
  return types.includes(t) || (t === 'integer' && types.includes('number'));
}

export class SchemaWalker {
  constructor(readonly root: SchemaNode) {}

  /** Follows `$ref`s; siblings of a `$ref` (description, default) win over the target's. */
  resolve(s: SchemaNode): SchemaNode {
    let node = s;
    for (let depth = 0; node.$ref !== undefined && depth < 16; depth++) {
      const name = node.$ref.replace(/^#\/definitions\//, '');
      const target = this.root.definitions?.[name];
      if (!target) throw new Error(`schema: unresolved $ref ${node.$ref}`);
      const { $ref: _ref, ...siblings } = node;
      node = { ...target, ...siblings };
    }
    return node;
  }

  /** The oneOf branch a value selects, merged with the parent; the parent itself when none fits. */
  select(s: SchemaNode, v: unknown): SchemaNode {
    const node = this.resolve(s);
    if (!node.oneOf) return node;
    const branches = node.oneOf.map((b) => this.resolve(b));
    let chosen: SchemaNode | undefined;
    if (node.discriminator && v !== null && typeof v === 'object') {
      const tag = (v as Record<string, unknown>)[node.discriminator.propertyName];
      chosen = branches.find((b) => b.properties?.[node.discriminator!.propertyName]?.const === tag);
    } else {
      const fitting = branches.filter((b) => typeMatches(b, v));
      if (fitting.length === 1) chosen = fitting[0];
    }
    if (!chosen) return node;
    const { oneOf: _o, discriminator: _d, ...rest } = node;
    return {
      ...rest,
      ...chosen,
      description: node.description ?? chosen.description,
      properties: { ...rest.properties, ...chosen.properties },
    };
  }

  /** The schema for `key` inside a value matched by `s`, if the schema allows one. */
  child(s: SchemaNode, v: unknown, key: PathSegment): SchemaNode | undefined {
    const node = this.select(s, v);
    if (typeof key === 'number') return node.items;
    const prop = node.properties?.[key];
    if (prop) return prop;
    return typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
  }

  /** The schema at `path` within `value`, or undefined when the path leaves the schema. */
  at(path: readonly PathSegment[], value: unknown): SchemaNode | undefined {
    const found = this.lookup(path, value);
    return found ? this.select(found.schema, found.value) : undefined;
  }

  /** The schema at `path` as written (`$ref`s not followed, no branch chosen), with the value there. */
  private lookup(path: readonly PathSegment[], value: unknown): { schema: SchemaNode; value: unknown } | undefined {
    let s: SchemaNode | undefined = this.root;
    let v = value;
    for (const key of path) {
      if (!s) return undefined;
      s = this.child(s, v, key);
      v = v !== null && typeof v === 'object' ? (v as Record<PathSegment, unknown>)[key] : undefined;
    }
    return s ? { schema: s, value: v } : undefined;
  }

  /**
   * The named format (a titled definition such as Name or Duration) the value at `path` must
   * have, with the definition's own description rather than the field's.
   */
  formatOf(path: readonly PathSegment[], value: unknown): SchemaNode | undefined {
    let s = this.lookup(path, value)?.schema;
    for (let depth = 0; s?.$ref !== undefined && depth < 16; depth++) s = this.root.definitions?.[s.$ref.replace(/^#\/definitions\//, '')];
    return s?.title ? s : undefined;
  }

  /**
   * For a key that the chosen variant of a discriminated union lacks (`instanceType` under
   * `provider: local`): the discriminator, its current value, and the values whose variant has it.
   */
  variantsDefining(path: readonly PathSegment[], value: unknown, key: string): { tag: string; current: string; values: string[] } | undefined {
    const found = this.lookup(path, value);
    if (!found) return undefined;
    const node = this.resolve(found.schema);
    const tag = node.discriminator?.propertyName;
    const current = (found.value as Record<string, unknown> | null)?.[tag ?? ''];
    if (!node.oneOf || tag === undefined || typeof current !== 'string') return undefined;
    const values = node.oneOf.map((b) => this.resolve(b))
      .filter((b) => b.properties?.[key] !== undefined && b.properties[tag]?.const !== current)
      .map((b) => String(b.properties![tag]!.const));
    return values.length > 0 ? { tag, current, values } : undefined;
  }

  /** Property names allowed at a schema node (for did-you-mean hints). */
  keysOf(s: SchemaNode): string[] {
    return Object.keys(s.properties ?? {});
  }

  /** A copy of `value` with every absent property that has a schema default filled in. */
  withDefaults(value: unknown, s: SchemaNode = this.root): unknown {
    const node = this.select(s, value);
    if (Array.isArray(value)) return node.items ? value.map((item) => this.withDefaults(item, node.items)) : value;
    if (value === null || typeof value !== 'object') return value;
    const src = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, prop] of Object.entries(node.properties ?? {})) {
      const p = this.resolve(prop);
      if (src[k] === undefined && p.default !== undefined) out[k] = structuredClone(p.default);
    }
    for (const [k, v] of Object.entries(src)) out[k] = v;
    for (const [k, v] of Object.entries(out)) {
      const childSchema = node.properties?.[k] ?? (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
      if (childSchema) out[k] = this.withDefaults(v, childSchema);
    }
    return out;
  }
}

// `{name}` placeholders in command templates. Only identifier-shaped braces are placeholders,
// so `{}` and `{ x }` (Python, shell) pass through untouched. Values are quoted for the shell.

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface Placeholder { name: string; index: number }

export function placeholders(template: string): Placeholder[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => ({ name: m[1]!, index: m.index! }));
}

/** The one shell-quoting helper: safe words pass as they are, the rest go in single quotes. */
export function shellQuote(value: string | number | boolean): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Substitutes placeholders that `values` names; others are left as written. */
export function renderTemplate(template: string, values: Readonly<Record<string, string | number | boolean>>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    Object.hasOwn(values, name) ? shellQuote(values[name]!) : whole,
  );
}

// The one table renderer: left-aligned text columns, right-aligned numbers, widths measured
// without ANSI colour codes, long cells cut with an ellipsis.

export interface Column<Row> {
  header: string;
  value(row: Row): string;
  align?: 'left' | 'right';
  /** Cut cells longer than this. */
  max?: number;
}

const ANSI = /\x1b\[[0-9;]*m/g;
export const visibleLength = (s: string): number => s.replace(ANSI, '').length;

function cut(s: string, max: number | undefined): string {
  if (max === undefined || visibleLength(s) <= max) return s;
  return `${s.replace(ANSI, '').slice(0, Math.max(1, max - 1))}…`;
}

export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[], opts: { header?: (s: string) => string } = {}): string {
  const cells = rows.map((r) => columns.map((c) => cut(c.value(r), c.max)));
  const widths = columns.map((c, i) => Math.max(visibleLength(c.header), ...cells.map((row) => visibleLength(row[i]!))));
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - visibleLength(s));
    return columns[i]!.align === 'right' ? fill + s : s + fill;
  };
  const line = (row: string[]) => row.map(pad).join('  ').trimEnd();
  const header = line(columns.map((c) => c.header));
  return `${[opts.header ? opts.header(header) : header, ...cells.map(line)].join('\n')}\n`;
}

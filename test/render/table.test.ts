import { describe, expect, it } from 'vitest';
import { renderTable, visibleLength } from '../../src/render/table.js';

describe('renderTable', () => {
  const cols = [
    { header: 'TRIAL', value: (r: { id: string; n: number }) => r.id },
    { header: 'STEP', value: (r: { id: string; n: number }) => String(r.n), align: 'right' as const },
  ];

  it('aligns text left and numbers right, with two spaces between columns', () => {
    expect(renderTable([{ id: 'a-1', n: 5 }, { id: 'a-22', n: 1200 }], cols)).toBe('TRIAL  STEP\na-1       5\na-22   1200\n');
  });

  it('measures width without colour codes', () => {
    const out = renderTable([{ id: '\x1b[32mok\x1b[39m', n: 1 }, { id: 'long', n: 2 }], cols);
    expect(out.split('\n').map(visibleLength)).toEqual([11, 11, 11, 0]);
  });

  it('cuts long cells with an ellipsis', () => {
    const out = renderTable([{ id: 'abcdefghij', n: 1 }], [{ ...cols[0]!, max: 5 }]);
    expect(out).toBe('TRIAL\nabcd…\n');
  });
});

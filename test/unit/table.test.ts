// The one table layout (src/ui/table.ts): columns padded to the widest cell, two spaces apart.
import { describe, expect, it } from '@jest/globals';
import { renderTable } from '../../src/ui/table.js';

describe('renderTable', () => {
  it('pads every column to its widest cell, two spaces apart, and trims trailing blanks', () => {
    expect(
      renderTable([
        ['ROBOT', 'ROLE', 'NOTE'],
        ['Anton', 'manager', ''],
        ['Ida', '', 'docker does not answer'],
      ]),
    ).toEqual(['ROBOT  ROLE     NOTE', 'Anton  manager', 'Ida             docker does not answer']);
  });

  it('indents, keeps minimum widths, and measures coloured cells by what shows', () => {
    const red = (s: string) => `\x1b[31m${s}\x1b[39m`;
    expect(renderTable([['Ida', red('failed'), 'x']], { indent: '  ', minWidths: [5, 11] })).toEqual([`  Ida    ${red('failed')}       x`]);
  });

  it('with keepLastCell, a last cell is printed as it is; a line ending in an empty cell is still trimmed', () => {
    expect(
      renderTable(
        [
          ['a', 'b '],
          ['ccc', ''],
        ],
        { keepLastCell: true },
      ),
    ).toEqual(['a    b ', 'ccc']);
    expect(renderTable([['a', 'b ']])).toEqual(['a  b']);
  });

  it('no rows, no lines', () => {
    expect(renderTable([])).toEqual([]);
  });
});

// The one table layout: columns two spaces apart, as wide as their widest cell (colour takes no room).

export interface TableOptions {
  indent?: string;
  minWidths?: readonly number[];
  /** Print a non-empty last cell as it is (else every line loses its trailing blanks). */
  keepLastCell?: boolean;
}

const visible = (cell: string) => cell.replace(/\x1b\[[\d;]*m/g, '').length; // eslint-disable-line no-control-regex

export function renderTable(rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, c) => (widths[c] = Math.max(widths[c] ?? options.minWidths?.[c] ?? 0, visible(cell))));
  return rows.map((row) => {
    const cells = row.map((cell, c) => (c < row.length - 1 ? cell + ' '.repeat((widths[c] ?? 0) - visible(cell)) : cell));
    const line = (options.indent ?? '') + cells.join('  ');
    return options.keepLastCell && row[row.length - 1] ? line : line.trimEnd();
  });
}

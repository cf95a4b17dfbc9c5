// The one table layout: columns two spaces apart, each padded to its widest cell (colour codes take
// no room). Pure: rows of text in, lines out.

export interface TableOptions {
  /** Before every line (the reports indent theirs by two spaces). */
  indent?: string;
  /** Columns at least this wide, whatever their cells (the outcome report keeps its columns steady). */
  minWidths?: readonly number[];
  /** The last cell is printed as it is; only a line whose last cell is empty loses its trailing blanks. */
  keepLastCell?: boolean;
}

const visible = (cell: string) => cell.replace(/\x1b\[[\d;]*m/g, '').length; // eslint-disable-line no-control-regex

export function renderTable(rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, c) => (widths[c] = Math.max(widths[c] ?? options.minWidths?.[c] ?? 0, visible(cell))));
  return rows.map((row) => {
    const line =
      (options.indent ?? '') +
      row.map((cell, c) => (c < row.length - 1 ? cell + ' '.repeat((widths[c] ?? 0) - visible(cell)) : cell)).join('  ');
    return options.keepLastCell && row[row.length - 1] ? line : line.trimEnd();
  });
}

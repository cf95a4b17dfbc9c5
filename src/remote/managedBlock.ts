// Managed blocks in files the user also edits: only the lines between our markers are ours.

export const BLOCK_BEGIN = '# BEGIN provision (managed by provision: edits inside this block are replaced)';
export const BLOCK_END = '# END provision';

export interface SplitFile {
  before: string; // the user's, byte for byte
  block: string[] | null; // null when there is none
  after: string; // the user's, byte for byte
}

export function splitManagedBlock(text: string): SplitFile {
  const lines = text.split('\n');
  // A file turned to CRLF (edited on Windows) still has its one block; the user's lines keep their '\r'.
  const begin = lines.findIndex((l) => l.startsWith('# BEGIN provision'));
  const end = begin < 0 ? -1 : lines.findIndex((l, i) => i > begin && l.replace(/\r$/, '') === BLOCK_END);
  if (begin < 0 || end < 0) return { before: text, block: null, after: '' };
  return {
    before: lines
      .slice(0, begin)
      .map((l) => l + '\n')
      .join(''),
    block: lines.slice(begin + 1, end).map((l) => l.replace(/\r$/, '')),
    after: lines.slice(end + 1).join('\n'),
  };
}

/** In place of an existing block, else at `position`; an empty `blockLines` removes the block. */
export function withManagedBlock(text: string, blockLines: readonly string[], position: 'top' | 'bottom'): string {
  const { before, block, after } = splitManagedBlock(text);
  const rendered = blockLines.length ? [BLOCK_BEGIN, ...blockLines, BLOCK_END].join('\n') + '\n' : '';
  if (block !== null) return before + rendered + after;
  if (!rendered) return text;
  if (position === 'top') return rendered + text;
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  return text + separator + rendered;
}

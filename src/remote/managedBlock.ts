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

/** The block's bytes as a file holds them, its markers included; '' for no lines (no block). */
export function renderBlock(blockLines: readonly string[]): string {
  return blockLines.length ? [BLOCK_BEGIN, ...blockLines, BLOCK_END].join('\n') + '\n' : '';
}

/** A file with a new block: `head`, the rendered block (unless `withBlock` is false: no block to put), `tail`. */
export function managedAround(
  parts: Pick<SplitFile, 'before' | 'after'> & { hasBlock: boolean },
  renderedEmpty: boolean,
  position: 'top' | 'bottom',
): { head: string; withBlock: boolean; tail: string } {
  const { before, after } = parts;
  if (parts.hasBlock) return { head: before, withBlock: !renderedEmpty, tail: after };
  if (renderedEmpty) return { head: before, withBlock: false, tail: '' };
  if (position === 'top') return { head: '', withBlock: true, tail: before };
  const separator = before === '' || before.endsWith('\n') ? '' : '\n';
  return { head: before + separator, withBlock: true, tail: '' };
}

/** In place of an existing block, else at `position`; an empty `blockLines` removes the block. */
export function withManagedBlock(text: string, blockLines: readonly string[], position: 'top' | 'bottom'): string {
  const { before, block, after } = splitManagedBlock(text);
  const rendered = renderBlock(blockLines);
  const { head, withBlock, tail } = managedAround({ before, after, hasBlock: block !== null }, !rendered, position);
  return head + (withBlock ? rendered : '') + tail;
}

/** The block's own bytes (`region`, null without a block) and the user's around it: as gather-ssh.sh cuts a file. */
export function splitRaw(text: string): { before: string; region: string | null; after: string } {
  const { before, block, after } = splitManagedBlock(text);
  if (block === null) return { before: text, region: null, after: '' };
  return { before, region: text.slice(before.length, text.length - after.length), after };
}

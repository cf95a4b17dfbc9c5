import { describe, expect, it } from '@jest/globals';
import { BLOCK_BEGIN, BLOCK_END, splitManagedBlock, withManagedBlock } from '../../src/remote/managedBlock.js';

describe('managed blocks', () => {
  it('appends a block to a file without one, keeping the user content byte for byte', () => {
    const user = 'Host mine\n  User me\n';
    const out = withManagedBlock(user, ['line'], 'bottom');
    expect(out.startsWith(user)).toBe(true);
    expect(out).toBe(`${user}${BLOCK_BEGIN}\nline\n${BLOCK_END}\n`);
  });

  it('adds a newline first when the user file does not end with one', () => {
    expect(withManagedBlock('abc', ['x'], 'bottom')).toBe(`abc\n${BLOCK_BEGIN}\nx\n${BLOCK_END}\n`);
  });

  it('puts the block first when asked, and replaces it in place later', () => {
    const first = withManagedBlock('# mine\n', ['a'], 'top');
    expect(first).toBe(`${BLOCK_BEGIN}\na\n${BLOCK_END}\n# mine\n`);
    const edited = 'before\n' + first + 'after';
    const second = withManagedBlock(edited, ['b', 'c'], 'top');
    expect(second).toBe(`before\n${BLOCK_BEGIN}\nb\nc\n${BLOCK_END}\n# mine\nafter`);
  });

  it('is stable: merging the same lines again gives the same bytes', () => {
    const once = withManagedBlock('x\n\n  weird  spacing \t\n', ['k1', 'k2'], 'bottom');
    expect(withManagedBlock(once, ['k1', 'k2'], 'bottom')).toBe(once);
  });

  it('removes only the block when given no lines', () => {
    const text = `u1\n${BLOCK_BEGIN}\nz\n${BLOCK_END}\nu2\n`;
    expect(withManagedBlock(text, [], 'bottom')).toBe('u1\nu2\n');
    expect(withManagedBlock('plain\n', [], 'bottom')).toBe('plain\n');
  });

  it('treats a begin marker without an end as user content', () => {
    const text = `${BLOCK_BEGIN}\nno end here\n`;
    expect(splitManagedBlock(text).block).toBeNull();
  });
});

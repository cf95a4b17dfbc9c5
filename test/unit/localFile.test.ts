// The one local atomic write (src/localFile.ts): the content and mode land, no temp file stays behind.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/localFile.js';

describe('writeFileAtomic', () => {
  it('replaces the file with the content and mode given, leaving nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    const file = join(dir, 'known_hosts');
    writeFileSync(file, 'old\n', { mode: 0o644 });
    writeFileAtomic(file, 'new\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['known_hosts']);
  });

  it('on a failed rename, the old file stays and the temp file is removed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    mkdirSync(join(dir, 'robots.yaml'));
    writeFileSync(join(dir, 'robots.yaml', 'inside'), 'x');
    expect(() => writeFileAtomic(join(dir, 'robots.yaml'), 'y', 0o600)).toThrow();
    expect(readdirSync(dir)).toEqual(['robots.yaml']);
  });
});

// The gather in parts (gather-ssh.sh's in_parts, a real sh on scratch homes) cuts each file where the
// CLI's managedBlock.ts cuts it, byte for byte: the user's bytes before and after the block come back
// whole, the block as the sha256 of its bytes. The CLI merges and compares on these parts, so a cut that
// differs would rewrite a file for nothing or, worse, miss a change.
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatherSshCommand, MANAGED_SSH_FILES, parseGatheredParts, parseGatheredSsh } from '../../src/remote/keysScript.js';
import { BLOCK_BEGIN, BLOCK_END, splitRaw } from '../../src/remote/managedBlock.js';

const scratch: string[] = [];
afterEach(() => {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

const B = BLOCK_BEGIN;
const E = BLOCK_END;
/** Files as users and older runs leave them (latin1: a character a byte). */
const CASES: Record<string, string> = {
  empty: '',
  'no block': 'ssh-ed25519 AAAAmine me@laptop\n',
  'no block, no last newline': 'Host x\n  User y',
  'block last': `ssh-ed25519 AAAAmine me\n${B}\nssh-ed25519 AAAAr r\n${E}\n`,
  'block first, user lines after, no last newline': `${B}\nHost a\n    HostName 10.0.0.1\nHost *\n${E}\nHost b\n  User x`,
  'block ending the file without a newline': `mine\n${B}\nx\n${E}`,
  'CRLF, an older marker text': `a\r\n# BEGIN provision (older words)\r\nline\r\n${E}\r\nb\r\n`,
  'a BEGIN without END': `${B}\nx\n`,
  'two blocks (the first counts)': `${B}\n1\n${E}\nmid\n${B}\n2\n${E}\n`,
  'an END before the BEGIN': `${E}\n${B}\nx\n${E}\ntail\n`,
  'END with spaces is not the end': `${B}\nx\n${E} \ny\n${E}\n`,
  'latin1 bytes around and in the block': `caf\xe9 \xff\n${B}\n\xe9\xe8\n${E}\nna\xefve`,
  'blank lines around': `\n\n${B}\n\n${E}\n\n`,
};

const sha256 = (s: string) => createHash('sha256').update(s, 'latin1').digest('hex');

function gather(content: string, inParts: boolean): string {
  const home = realpathSync(mkdtempSync(join(tmpdir(), 'parts-')));
  scratch.push(home);
  mkdirSync(join(home, '.ssh'), { mode: 0o700 });
  for (const f of MANAGED_SSH_FILES) writeFileSync(join(home, '.ssh', f), Buffer.from(content, 'latin1'), { mode: 0o600 });
  // A dry run: nothing made (no key pair either), only read.
  const r = spawnSync('sh', ['-c', gatherSshCommand('t@T', true, inParts).line], {
    encoding: 'latin1',
    env: { HOME: home, PATH: process.env.PATH ?? '' },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('gather-ssh.sh in parts', () => {
  it.each(Object.entries(CASES))('%s: cut as managedBlock.ts cuts it', (_, content) => {
    const parts = parseGatheredParts(gather(content, true));
    const { before, region, after } = splitRaw(content);
    for (const f of MANAGED_SSH_FILES) {
      expect(parts.files[f]).toEqual({ mode: '600', before, block: region === null ? null : sha256(region), after });
      // Nothing lost: the parts and the block are the file.
      expect(before + (region ?? '') + after).toBe(content);
    }
    expect(parseGatheredSsh(gather(content, false)).files.config.content).toBe(content);
  });

  it('an absent file: no mode, nothing in it', () => {
    const home = realpathSync(mkdtempSync(join(tmpdir(), 'parts-')));
    scratch.push(home);
    const r = spawnSync('sh', ['-c', gatherSshCommand('t@T', true, true).line], {
      encoding: 'latin1',
      env: { HOME: home, PATH: process.env.PATH ?? '' },
    });
    expect(parseGatheredParts(r.stdout).files.known_hosts).toEqual({ mode: null, before: '', block: null, after: '' });
  });

  it('an answer cut short is refused, not read as a file without a block', () => {
    const answer = 'state:\nuid:1000\nhome:/h\nid_ed25519.pub:-:\nauthorized_keys:600:YQ==\nknown_hosts:-:\nconfig:-:\n';
    expect(() => parseGatheredParts(answer)).toThrow(/authorized_keys:MODE:BASE64:SHA256:BASE64/);
  });
});

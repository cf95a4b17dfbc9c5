import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParsedKey } from 'ssh2';
import { authHandler, loadOperatorIdentity } from '../../src/ssh/auth.js';

// Real keys made with ssh-keygen: one encrypted, one plain, named as IdentityFiles. HOME points at a
// scratch folder, so the machine's own ~/.ssh/id_* never join in as default keys.
const home = mkdtempSync(join(tmpdir(), 'provision-auth-'));
const saved = { SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK, HOME: process.env.HOME };
process.env.HOME = join(home, 'operator-home');
const encrypted = join(home, '.ssh', 'id_ed25519');
const plain = join(home, 'keys', 'robots');

beforeAll(() => {
  mkdirSync(join(home, '.ssh'), { mode: 0o700 });
  mkdirSync(join(home, 'keys'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open sesame', '-f', encrypted]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plain]);
  delete process.env.SSH_AUTH_SOCK;
});

afterAll(() => {
  if (saved.SSH_AUTH_SOCK !== undefined) process.env.SSH_AUTH_SOCK = saved.SSH_AUTH_SOCK;
  if (saved.HOME !== undefined) process.env.HOME = saved.HOME;
});

let unlockedKey: ParsedKey | undefined;

/** The sequence of attempts the handler hands to ssh2 when the server offers `methods`. */
function attempts(handler: ReturnType<typeof authHandler>, methods: string[]): string[] {
  const out: string[] = [];
  for (;;) {
    let next: object | false = false;
    handler(methods, false, (a) => (next = a));
    if (!next) return out;
    const a = next as { type: string; key?: ParsedKey };
    // Keys are named by their comment (ssh-keygen's default: user@host, the same for both), so by file here.
    out.push(a.type === 'publickey' ? `publickey${a.key && a.key === unlockedKey ? ' (unlocked)' : ''}` : a.type);
  }
}

describe('operator identity', () => {
  it("asks once for an encrypted key's passphrase and uses the key with it", async () => {
    const asked: string[] = [];
    const identity = await loadOperatorIdentity(undefined, [plain, encrypted, encrypted], async (file) => {
      asked.push(file);
      return 'open sesame';
    });
    expect(asked).toEqual([encrypted]);
    unlockedKey = identity.keys.get(encrypted)?.key;
    // unlocked: it signs, and the signature checks out against its public key (the key object made once)
    const data = Buffer.from('session id and request');
    expect(unlockedKey?.verify(data, unlockedKey.sign(data))).toBe(true);
    expect(unlockedKey?.verify(Buffer.from('something else'), unlockedKey.sign(data))).toBe(false);
    expect(identity.notes).toEqual([]);
    // a host's own IdentityFile first, then the default keys; the password last
    const withDefaults = { ...identity, defaultKeyFiles: [encrypted], password: 'pw' };
    expect(attempts(authHandler(withDefaults, { username: 'ida', identityFiles: [plain] }), ['publickey', 'password'])).toEqual([
      'publickey',
      'publickey (unlocked)',
      'password',
    ]);
  });

  it('a wrong passphrase, or nobody to ask, skips the key with a note saying how to use it', async () => {
    const wrong = await loadOperatorIdentity(undefined, [encrypted], async () => 'not it');
    expect(wrong.keys.has(encrypted)).toBe(false);
    expect(wrong.notes).toEqual([`${encrypted} is skipped: the passphrase did not unlock it`]);
    const unattended = await loadOperatorIdentity(undefined, [encrypted], async () => undefined);
    expect(unattended.notes[0]).toMatch(/is skipped: it is encrypted; load it into ssh-agent \(ssh-add .*id_ed25519\)/);
  });

  it('with an agent the agent goes first and is not bypassed by a prompt; IdentitiesOnly leaves it out', async () => {
    process.env.SSH_AUTH_SOCK = '/nonexistent/agent.sock';
    try {
      let prompted = false;
      const identity = await loadOperatorIdentity(undefined, [plain, encrypted], async () => {
        prompted = true;
        return 'open sesame';
      });
      expect(prompted).toBe(false);
      expect(attempts(authHandler(identity, { username: 'ida', identityFiles: [plain] }), ['publickey'])).toEqual(['agent', 'publickey']);
      expect(attempts(authHandler(identity, { username: 'ida', identityFiles: [plain], identitiesOnly: true }), ['publickey'])).toEqual([
        'publickey',
      ]);
    } finally {
      delete process.env.SSH_AUTH_SOCK;
    }
  });

  it('names an IdentityFile from ~/.ssh/config that does not exist', async () => {
    const identity = await loadOperatorIdentity(undefined, [join(home, 'missing')], async () => 'open sesame');
    expect(identity.notes).toContain(`IdentityFile ${join(home, 'missing')} (from ~/.ssh/config) does not exist`);
  });
});

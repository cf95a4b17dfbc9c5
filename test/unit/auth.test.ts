import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BaseAgent, ParsedKey } from 'ssh2';
import { authHandler, loadOperatorIdentity, loginOrder, type KeyChoices } from '../../src/ssh/auth.js';

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

/** A real ssh-agent on a socket of its own; stop() kills it by its pid. */
function startAgent() {
  const sock = join(mkdtempSync(join(tmpdir(), 'provision-agent-')), 'agent.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', sock], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
  return { sock, stop: () => process.kill(pid) };
}

/** The comments of the keys offered (and "password"), in order. */
function offered(handler: ReturnType<typeof authHandler>, methods: string[]): string[] {
  const out: string[] = [];
  for (;;) {
    let next: object | false = false;
    handler(methods, false, (a) => (next = a));
    if (!next) return out;
    const a = next as { type: string; key?: ParsedKey; agent?: { getIdentities: (cb: (e: unknown, k: ParsedKey[]) => void) => void } };
    if (a.agent) a.agent.getIdentities((_e, k) => out.push(k[0]!.comment));
    else out.push(a.key ? a.key.comment : a.type);
  }
}

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

  it('with an agent: its keys one by one, no prompt for a key it holds; IdentitiesOnly offers only the configured key, the agent signing it', async () => {
    const agent = startAgent();
    try {
      execFileSync('ssh-add', ['-q', plain], { env: { SSH_AUTH_SOCK: agent.sock } });
      const spare = join(home, 'keys', 'spare');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', spare]);
      execFileSync('ssh-add', ['-q', spare], { env: { SSH_AUTH_SOCK: agent.sock } });
      process.env.SSH_AUTH_SOCK = agent.sock;
      let prompted = false;
      const identity = await loadOperatorIdentity(undefined, [plain, encrypted], async () => {
        prompted = true;
        return 'open sesame';
      });
      expect(prompted).toBe(false);
      expect(identity.agentKeys.length).toBe(2);
      // the IdentityFile first (the agent holds it: the agent signs), then the agent's other key
      expect(attempts(authHandler(identity, { username: 'ida', identityFiles: [plain] }), ['publickey'])).toEqual(['agent', 'agent']);
      expect(attempts(authHandler(identity, { username: 'ida', identityFiles: [plain], identitiesOnly: true }), ['publickey'])).toEqual([
        'agent',
      ]);
      // a one-key agent signs with the real agent: the signature checks out
      const handler = authHandler(identity, { username: 'ida', identityFiles: [plain], identitiesOnly: true });
      let first: { agent?: BaseAgent<ParsedKey> } = {};
      handler(['publickey'], false, (a) => (first = a as typeof first));
      const keys = await new Promise<ParsedKey[]>((resolve) => first.agent?.getIdentities((_e, k) => resolve((k ?? []) as ParsedKey[])));
      expect(keys.length).toBe(1);
      const data = Buffer.from('session id and request');
      const signature = await new Promise<Buffer>((resolve, reject) =>
        first.agent?.sign(keys[0]!, data, {}, (e, sig) => (e ? reject(e) : resolve(sig!))),
      );
      expect(keys[0]!.verify(data, signature)).toBe(true);
    } finally {
      delete process.env.SSH_AUTH_SOCK;
      agent.stop();
    }
  });

  it('an agent of 8 keys, the installed one last: the installed key first, then only as many as sshd allows, room left for the password', async () => {
    const agent = startAgent();
    const agentHome = join(home, 'agent-home');
    process.env.HOME = agentHome;
    try {
      mkdirSync(join(agentHome, '.ssh'), { recursive: true, mode: 0o700 });
      for (let i = 1; i <= 7; i++) {
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `spare${i}`, '-f', join(agentHome, `spare${i}`)]);
        execFileSync('ssh-add', ['-q', join(agentHome, `spare${i}`)], { env: { SSH_AUTH_SOCK: agent.sock } });
      }
      // provision's own key (what `keys` installs): encrypted, in the agent last
      const own = join(agentHome, '.ssh', 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pw', '-C', 'own', '-f', own]);
      execFileSync('ssh-add', ['-q', own], {
        env: { SSH_AUTH_SOCK: agent.sock, SSH_ASKPASS: '/bin/false' },
        input: 'pw\n',
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      process.env.SSH_AUTH_SOCK = agent.sock;
      const identity = await loadOperatorIdentity('pw1234', []);
      expect(identity.agentKeys.length).toBe(8);
      expect(identity.notes).toEqual([]); // the agent holds the encrypted key: no note, no prompt
      const comments = (h: ReturnType<typeof authHandler>) => offered(h, ['publickey', 'password']);
      const first = authHandler(identity, { username: 'ida' });
      expect(comments(first)).toEqual(['own', 'spare1', 'spare2', 'spare3', 'spare4', 'password']);
      expect(first.tried()).toBe('5 keys, the password; 3 more keys not offered (sshd allows 6 tries)');
      // the key that worked last on this robot goes first
      const spare6 = identity.agentKeys.find((k) => k.comment === 'spare6')!;
      const remembered = `${spare6.type} ${spare6.getPublicSSH().toString('base64')}`;
      expect(comments(authHandler(identity, { username: 'ida' }, remembered))).toEqual([
        'spare6',
        'own',
        'spare1',
        'spare2',
        'spare3',
        'password',
      ]);
      // no password: a sixth key
      expect(comments(authHandler({ ...identity, password: undefined }, { username: 'ida' }))).toHaveLength(6);
    } finally {
      delete process.env.SSH_AUTH_SOCK;
      process.env.HOME = join(home, 'operator-home');
      agent.stop();
    }
  });

  it('names an IdentityFile from ~/.ssh/config that does not exist', async () => {
    const identity = await loadOperatorIdentity(undefined, [join(home, 'missing')], async () => 'open sesame');
    expect(identity.notes).toContain(`IdentityFile ${join(home, 'missing')} (from ~/.ssh/config) does not exist`);
  });
});

describe('login order', () => {
  const file = (name: string, unlocked = true) => ({ file: `/k/${name}`, publicKey: `ssh-ed25519 ${name}`, unlocked });
  const base: KeyChoices = { agent: [], configured: [], defaults: [], identitiesOnly: false, budget: 5 };
  const order = (c: Partial<KeyChoices>) =>
    loginOrder({ ...base, ...c }).offer.map((o) => `${o.publicKey.split(' ')[1]}:${o.from === 'agent' ? 'agent' : 'file'}`);

  it('remembered, installed, IdentityFiles, agent, default files; each key once, the agent signing what it holds', () => {
    expect(
      order({
        remembered: 'ssh-ed25519 a3',
        installed: 'ssh-ed25519 own',
        agent: ['ssh-ed25519 a1', 'ssh-ed25519 a2', 'ssh-ed25519 a3', 'ssh-ed25519 own'],
        configured: [file('cfg')],
        defaults: [file('own'), file('dflt')],
        budget: 10,
      }),
    ).toEqual(['a3:agent', 'own:agent', 'cfg:file', 'a1:agent', 'a2:agent', 'dflt:file']);
  });

  it('the budget cuts the list; a key nobody can sign with (encrypted, not in the agent) is not offered', () => {
    const agent = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((k) => `ssh-ed25519 ${k}`);
    expect(order({ agent, defaults: [file('locked', false)], installed: 'ssh-ed25519 locked' })).toEqual([
      'a1:agent',
      'a2:agent',
      'a3:agent',
      'a4:agent',
      'a5:agent',
    ]);
    expect(loginOrder({ ...base, agent, budget: 2 }).held).toBe(6);
  });

  it('IdentitiesOnly: only the configured files (the defaults when none is), by the agent where it holds them', () => {
    const agent = ['ssh-ed25519 a1', 'ssh-ed25519 cfg'];
    const only = { agent, identitiesOnly: true, installed: 'ssh-ed25519 a1', remembered: 'ssh-ed25519 a1' };
    expect(order({ ...only, configured: [file('cfg', false)], defaults: [file('dflt')] })).toEqual(['cfg:agent']);
    expect(order({ ...only, configured: [], defaults: [file('dflt')] })).toEqual(['dflt:file']);
  });
});

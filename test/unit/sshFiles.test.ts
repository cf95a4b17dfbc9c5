import { describe, expect, it } from '@jest/globals';
import { keyOf, mergeAuthorizedKeys, mergeKnownHosts, mergeSshConfig, type RobotKeyFacts } from '../../src/remote/sshFiles.js';
import { BLOCK_BEGIN, BLOCK_END } from '../../src/remote/managedBlock.js';

const robot = (name: string, n: number, over: Partial<RobotKeyFacts> = {}): RobotKeyFacts => ({
  name,
  ip: `10.0.0.${n}`,
  port: 22,
  user: name.toLowerCase(),
  publicKey: `ssh-ed25519 AAAAuser${n}`,
  hostKey: `ssh-ed25519 AAAAhost${n}`,
  ...over,
});
const fleet = [robot('Anton', 1), robot('Ida', 2), robot('Otto', 3)];
const operator = { key: 'ssh-ed25519 AAAAop laptop', label: 'me@laptop' };

describe('authorized_keys', () => {
  it('holds every robot key and the operator key, after the user lines', () => {
    const user = 'command="x" ssh-rsa AAAAuserown me@home\n';
    const out = mergeAuthorizedKeys(user, fleet, operator);
    expect(out.startsWith(user)).toBe(true);
    for (const n of [1, 2, 3]) expect(out).toContain(`ssh-ed25519 AAAAuser${n} provision:robot:`);
    expect(out).toContain('ssh-ed25519 AAAAop provision:operator:me@laptop');
  });

  it('does not repeat a key the user already has outside the block', () => {
    const out = mergeAuthorizedKeys('ssh-ed25519 AAAAuser2 my-own-line\n', fleet, operator);
    expect(out.match(/AAAAuser2/g)).toHaveLength(1);
  });

  it('keeps the previous key of a robot not reached this run', () => {
    const first = mergeAuthorizedKeys('', fleet, operator);
    const second = mergeAuthorizedKeys(first, [robot('Anton', 1), robot('Ida', 2, { publicKey: null }), robot('Otto', 3)], operator);
    expect(second).toBe(first);
  });

  it('keeps keys other operators installed and adds ours', () => {
    const first = mergeAuthorizedKeys('', fleet, { key: 'ssh-ed25519 AAAAother', label: 'you@pc' });
    const second = mergeAuthorizedKeys(first, fleet, operator);
    expect(second).toContain('AAAAother provision:operator:you@pc');
    expect(second).toContain('AAAAop provision:operator:me@laptop');
  });

  it('parses keys with options and comments', () => {
    expect(keyOf('from="1.2.3.4",no-pty ssh-ed25519 AAAAx a comment')).toBe('ssh-ed25519 AAAAx');
    expect(keyOf('# ssh-ed25519')).toBeNull();
  });
});

describe('known_hosts', () => {
  it('names every robot by name and address, bracketed for other ports', () => {
    const out = mergeKnownHosts('old 1\n', [robot('Anton', 1), robot('Ida', 2, { port: 2222 })]);
    expect(out).toBe(
      `old 1\n${BLOCK_BEGIN}\nAnton,10.0.0.1 ssh-ed25519 AAAAhost1\n[Ida]:2222,[10.0.0.2]:2222 ssh-ed25519 AAAAhost2\n${BLOCK_END}\n`,
    );
  });

  it('keeps the previous host key of a robot not reached this run', () => {
    const first = mergeKnownHosts('', fleet);
    expect(mergeKnownHosts(first, [robot('Anton', 1, { hostKey: null }), robot('Ida', 2), robot('Otto', 3)])).toBe(first);
  });
});

describe('~/.ssh/config', () => {
  it('puts one Host entry per robot first and ends with Host * so user globals still apply', () => {
    const user = 'ServerAliveInterval 30\nHost mine\n  User me\n';
    const out = mergeSshConfig(user, fleet);
    expect(out.endsWith(user)).toBe(true);
    expect(out).toContain('Host Ida\n    HostName 10.0.0.2\n    User ida\n    Port 22\n    IdentityFile ~/.ssh/id_ed25519\n');
    expect(out).toContain(`Host *\n${BLOCK_END}\n`);
    expect(mergeSshConfig(out, fleet)).toBe(out);
  });
});

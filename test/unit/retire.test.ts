// The pure parts of retiring robots and of operator keys: the merges revoke a robot no longer in the
// inventory, the operator's known_hosts forgets it, the inventory loses its entry and nothing else,
// and the order of a robot's retirement.
import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeAuthorizedKeys, mergeKnownHosts, mergeSshConfig, type RobotKeyFacts } from '../../src/remote/sshFiles.js';
import { KnownHosts, withoutHost } from '../../src/ssh/knownHosts.js';
import { withoutRobots } from '../../src/inventory/removeRobots.js';
import { parseInventory } from '../../src/inventory/load.js';
import { retirePlan } from '../../src/plan/retire.js';
import { readPublicKeyFile } from '../../src/ssh/operatorKeys.js';

const robot = (name: string, n: number, over: Partial<RobotKeyFacts> = {}): RobotKeyFacts => ({
  name,
  ip: `10.0.0.${n}`,
  port: 22,
  user: name.toLowerCase(),
  publicKey: `ssh-ed25519 AAAAkey${name}`,
  hostKey: `ssh-ed25519 AAAAhost${name}`,
  ...over,
});
const operator = { key: 'ssh-ed25519 AAAAoperator me@laptop', label: 'me@laptop' };
const fleet = [robot('Anton', 1), robot('Ida', 2), robot('Otto', 3)];

describe('revocation by the merges', () => {
  const withOtto = {
    authorized_keys: mergeAuthorizedKeys('ssh-rsa AAAAuser own-line\n', fleet, operator),
    known_hosts: mergeKnownHosts('', fleet),
    config: mergeSshConfig('', fleet),
  };
  const without = fleet.filter((r) => r.name !== 'Otto');

  it('a robot no longer in the inventory loses its key, host key and Host block; the user line stays', () => {
    const ak = mergeAuthorizedKeys(withOtto.authorized_keys, without, operator);
    expect(withOtto.authorized_keys).toContain('AAAAkeyOtto');
    expect(ak).not.toContain('AAAAkeyOtto');
    expect(ak).toContain('AAAAkeyIda');
    expect(ak.startsWith('ssh-rsa AAAAuser own-line\n')).toBe(true);
    expect(mergeKnownHosts(withOtto.known_hosts, without)).not.toMatch(/Otto|AAAAhostOtto|10\.0\.0\.3/);
    expect(mergeSshConfig(withOtto.config, without)).not.toMatch(/Otto|10\.0\.0\.3/);
  });

  it('…also on a robot reached by a later run, while robots not reached keep their lines', () => {
    // Ida unreachable in this run (no facts), Otto gone from the inventory.
    const ak = mergeAuthorizedKeys(
      withOtto.authorized_keys,
      [robot('Anton', 1), robot('Ida', 2, { publicKey: null, hostKey: null })],
      operator,
    );
    expect(ak).toContain('ssh-ed25519 AAAAkeyIda provision:robot:Ida');
    expect(ak).not.toContain('AAAAkeyOtto');
  });

  it('a rotation trusts old and new keys; a robot not reached keeps both lines; then only the new', () => {
    const both = mergeAuthorizedKeys(
      '',
      [robot('Anton', 1, { publicKey: 'ssh-ed25519 AAAAnewAnton', previousKey: 'ssh-ed25519 AAAAkeyAnton' })],
      operator,
    );
    expect(both).toContain('AAAAnewAnton provision:robot:Anton');
    expect(both).toContain('AAAAkeyAnton provision:robot:Anton');
    expect(mergeAuthorizedKeys(both, [robot('Anton', 1, { publicKey: null })], operator)).toContain('AAAAkeyAnton');
    expect(mergeAuthorizedKeys(both, [robot('Anton', 1, { publicKey: null })], operator)).toContain('AAAAnewAnton');
    const after = mergeAuthorizedKeys(both, [robot('Anton', 1, { publicKey: 'ssh-ed25519 AAAAnewAnton' })], operator);
    expect(after).not.toContain('AAAAkeyAnton');
  });

  it('operator keys: another is installed and stays; a revoked one goes, also from earlier runs', () => {
    const other = { key: 'ssh-ed25519 AAAAother', label: 'you@pc' };
    const first = mergeAuthorizedKeys('', fleet, { ...operator, others: [other] });
    expect(first).toContain('ssh-ed25519 AAAAother provision:operator:you@pc');
    expect(mergeAuthorizedKeys(first, fleet, operator)).toContain('AAAAother'); // kept when not named again
    const revoked = mergeAuthorizedKeys(first, fleet, { ...operator, revoke: ['ssh-ed25519 AAAAother'] });
    expect(revoked).not.toContain('AAAAother');
    expect(revoked).toContain('AAAAoperator');
  });

  it("the config can offer a second identity (the rotation's next key) first", () => {
    const c = mergeSshConfig('', fleet, ['.ssh/id_ed25519.next', '.ssh/id_ed25519']);
    expect(c).toContain('    IdentityFile ~/.ssh/id_ed25519.next\n    IdentityFile ~/.ssh/id_ed25519\n');
  });
});

describe("the operator's known_hosts forgets a removed robot", () => {
  it('plain, address, bracketed-port-less and hashed lines go; other hosts and wildcards stay', () => {
    // HMAC-SHA1 of "Otto" with that salt, as ssh-keygen -H writes it
    const hashed =
      '|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|' +
      createHmac('sha1', Buffer.from('c2FsdHNhbHRzYWx0c2FsdHNhbHQ=', 'base64')).update('Otto').digest('base64');
    const text = [
      'Otto,10.0.0.3 ssh-ed25519 AAAAhostOtto',
      'Ida,10.0.0.2 ssh-ed25519 AAAAhostIda',
      `${hashed} ssh-ed25519 AAAAhostOtto`,
      '10.0.0.3 ssh-rsa AAAAold',
      '10.0.0.* ssh-ed25519 AAAAwild',
      '# a comment about Otto',
      '',
    ].join('\n');
    const out = withoutHost(text, 'Otto', '10.0.0.3', 22);
    expect(out.removed).toBe(3);
    expect(out.text).toBe(
      ['Ida,10.0.0.2 ssh-ed25519 AAAAhostIda', '10.0.0.* ssh-ed25519 AAAAwild', '# a comment about Otto', ''].join('\n'),
    );
  });
});

describe('a robot on a port other than 22', () => {
  it('is found and forgotten under [name]:port and [address]:port', () => {
    const text = ['[Otto]:2222,[10.0.0.3]:2222 ssh-ed25519 AAAAhostOtto', '[Ida]:2222 ssh-ed25519 AAAAhostIda', ''].join('\n');
    expect(withoutHost(text, 'Otto', '10.0.0.3', 2222)).toEqual({ text: '[Ida]:2222 ssh-ed25519 AAAAhostIda\n', removed: 1 });
    expect(withoutHost(text, 'Otto', '10.0.0.3', 22).removed).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), 'kh-')), 'known_hosts');
    writeFileSync(file, text);
    const files = { userKnownHostsFiles: [file], globalKnownHostsFiles: [] };
    expect(new KnownHosts(tmpdir()).linesFor('Otto', '10.0.0.9', 2222, files).map((k) => k.type)).toEqual(['ssh-ed25519']);
    expect(new KnownHosts(tmpdir()).linesFor('Otto', '10.0.0.3', 22, files)).toEqual([]);
  });
});

describe('the inventory without a removed robot', () => {
  const text = [
    '# the fleet of hall A',
    'defaults: { user: robot }   # everyone',
    'swarm:',
    '  managers: auto',
    '  leader: Otto            # the big one',
    'robots:',
    '  # the first robot',
    '  - name: Anton   # front',
    '    ip: 10.0.0.1',
    '  - name: Otto    # arm',
    '    ip: 10.0.0.3',
    '    labels: { HAS_ARM: true }',
    '  # Ida comes last',
    '  - name: Ida',
    '    ip: 10.0.0.2',
    '',
  ].join('\n');

  it('cuts exactly its entry (and swarm.leader naming it); every other line byte for byte', () => {
    const out = withoutRobots(text, ['Otto']);
    const expected = text
      .split('\n')
      .filter((l) => !/Otto|10\.0\.0\.3|HAS_ARM/.test(l))
      .join('\n');
    // and Otto is remembered as retired, so that runs reaching a robot it was missed on revoke it there
    const retired = '# Taken out by provision remove: every run that reaches a robot withdraws their keys from it.\nretired: [Otto]\n';
    expect(out).toBe(expected + retired);
    expect(parseInventory(out, 'x').robots.map((r) => r.name)).toEqual(['Anton', 'Ida']);
    expect(parseInventory(out, 'x').retired).toEqual(['Otto']);
    expect(parseInventory(withoutRobots(out, ['Ida']), 'x').retired).toEqual(['Otto', 'Ida']); // an existing list grows
  });

  it('refuses an unknown name and the last robot (an inventory needs one)', () => {
    expect(() => withoutRobots(text, ['Nobody'])).toThrow(/no robot named "Nobody"/);
    expect(() => withoutRobots(text, ['Anton', 'Otto', 'Ida'])).toThrow();
  });

  it('a flow-style list falls back to the Document rendering, still without the robot', () => {
    const out = withoutRobots('robots: [{ name: A, ip: 10.0.0.1 }, { name: B, ip: 10.0.0.2 }]\n', ['A']);
    expect(parseInventory(out, 'x').robots.map((r) => r.name)).toEqual(['B']);
  });
});

describe('the order of a retirement', () => {
  it('drain, demote a manager, leave, remove the node, remove the tokens; a gone robot gets what managers can do', () => {
    expect(retirePlan({ node: { role: 'manager', availability: 'active', leader: true }, reachable: true })).toEqual([
      'drain',
      'demote',
      'leave',
      'remove-node',
      'remove-tokens',
    ]);
    expect(retirePlan({ node: { role: 'worker', availability: 'active', leader: false }, reachable: false })).toEqual([
      'drain',
      'remove-node',
    ]);
    expect(retirePlan({ node: { role: 'manager', availability: 'drain', leader: false }, reachable: false })).toEqual([
      'demote',
      'remove-node',
    ]);
    expect(retirePlan({ node: null, reachable: true })).toEqual(['remove-tokens']);
  });
});

describe('--operator-key FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-opkey-'));
  it('takes the first public key line and its comment as the label (safe characters only)', () => {
    writeFileSync(join(dir, 'a.pub'), '# laptop B\nssh-ed25519 AAAAC3Nz b@laptop two;rm\n');
    expect(readPublicKeyFile(join(dir, 'a.pub'))).toEqual({ key: 'ssh-ed25519 AAAAC3Nz', label: 'b@laptop_two_rm' });
  });
  it('refuses a file without a public key (a private key above all)', () => {
    writeFileSync(join(dir, 'id'), '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n');
    expect(() => readPublicKeyFile(join(dir, 'id'))).toThrow(/no SSH public key/);
    expect(() => readPublicKeyFile(join(dir, 'missing'))).toThrow(/cannot be read/);
  });
});

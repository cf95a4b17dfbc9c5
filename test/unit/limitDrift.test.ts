// --limit parsing and the managed blocks' drift (lines of robots no longer in the inventory): kept and
// reported without --prune, dropped with it.
import { describe, expect, it } from '@jest/globals';
import { LimitError, parseLimit } from '../../src/plan/limit.js';
import { blockDriftText, strangerLines, strangerNodes, strangersInBlock } from '../../src/plan/drift.js';
import { mergeAuthorizedKeys, mergeKnownHosts, mergeSshConfig, type RobotKeyFacts } from '../../src/remote/sshFiles.js';
import type { NodeInfo } from '../../src/remote/docker.js';

const KEY = (n: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${n.padEnd(43, 'x')}`;
const robot = (name: string, i: number): RobotKeyFacts => ({
  name,
  ip: `10.0.0.${i}`,
  port: 22,
  user: name.toLowerCase(),
  publicKey: KEY(name),
  hostKey: KEY(`h${name}`),
});
const operator = { key: KEY('op'), label: 'me@laptop' };

describe('--limit', () => {
  it('picks inventory names, ignoring case, and names every unknown one', () => {
    expect([...parseLimit('otto, IDA', ['Anton', 'Ida', 'Otto'])]).toEqual(['Otto', 'Ida']);
    expect(() => parseLimit('Otto,Nobody,x', ['Anton', 'Otto'])).toThrow(
      /no robot named "Nobody", "x" in the inventory \(its robots: Anton, Otto\)/,
    );
    expect(() => parseLimit(' , ', ['Anton'])).toThrow(LimitError);
  });
});

describe('drift in the managed blocks', () => {
  const three = [robot('Anton', 1), robot('Ida', 2), robot('Paula', 3)];
  const files = {
    authorized_keys: mergeAuthorizedKeys('mine\n', three, operator),
    known_hosts: mergeKnownHosts('', three),
    config: mergeSshConfig('Host mine\n  User x\n', three),
  };
  const two = three.slice(0, 2);
  const names = two.map((r) => r.name);

  it('finds the robots a block trusts that are not in the inventory, in each file', () => {
    for (const f of ['authorized_keys', 'known_hosts', 'config'] as const)
      expect([f, strangersInBlock(f, files[f], names)]).toEqual([f, ['Paula']]);
    expect(strangersInBlock('authorized_keys', files.authorized_keys, ['Anton', 'Ida', 'Paula'])).toEqual([]);
  });

  it('without --prune the merge keeps their lines (the whole Host entry); with it they are dropped; user lines stay either way', () => {
    const kept = mergeSshConfig(files.config, two, undefined, strangerLines('config', files.config, names));
    expect(kept).toBe(files.config); // nothing to write: the block already holds exactly this
    expect(mergeAuthorizedKeys(files.authorized_keys, two, operator, strangerLines('authorized_keys', files.authorized_keys, names))).toBe(
      files.authorized_keys,
    );
    expect(mergeKnownHosts(files.known_hosts, two, strangerLines('known_hosts', files.known_hosts, names))).toBe(files.known_hosts);
    const pruned = {
      ak: mergeAuthorizedKeys(files.authorized_keys, two, operator),
      kh: mergeKnownHosts(files.known_hosts, two),
      cf: mergeSshConfig(files.config, two),
    };
    expect(pruned.ak).not.toContain(KEY('Paula'));
    expect(pruned.ak.startsWith('mine\n')).toBe(true);
    expect(pruned.kh).not.toContain('Paula');
    expect(pruned.cf).not.toMatch(/Host Paula|10\.0\.0\.3/);
    expect(pruned.cf).toContain('Host mine\n  User x\n');
    expect(blockDriftText(['Paula'], false, false)).toMatch(/kept; --prune drops them/);
  });
});

describe('drift in the swarm', () => {
  const node = (id: string, addr: string): NodeInfo => ({
    id,
    hostname: id,
    role: 'worker',
    state: 'ready',
    availability: 'active',
    addr,
    leader: false,
    reachability: null,
    labels: {},
  });
  it("a node is a stranger only when it is no robot's node and at no robot's address (a robot's old node is stale, not drift)", () => {
    const nodes = [node('a', '10.0.0.1'), node('old-a', '10.0.0.1'), node('x', '10.0.0.9')];
    expect(strangerNodes(nodes, ['10.0.0.1', '10.0.0.2'], ['a']).map((n) => n.id)).toEqual(['x']);
  });
});

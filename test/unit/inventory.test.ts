import { describe, expect, it } from '@jest/globals';
import { InventoryError, parseInventory } from '../../src/inventory/load.js';

const valid = `# my fleet
defaults: { user: robot, port: 22, sudo: false }
swarm: { managers: auto, leader: Anton }
robots:
  - name: Anton
    ip: 192.168.50.11
    user: anton
    zone: hall-a
    labels: { HAS_2D_MAP_DATA: true }
  - name: Ida
    ip: 192.168.50.12
`;

function problems(text: string): string[] {
  try {
    parseInventory(text, 'robots.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(InventoryError);
    return (err as InventoryError).problems;
  }
  throw new Error('expected the inventory to be refused');
}

describe('inventory', () => {
  it('applies defaults', () => {
    const inv = parseInventory(valid, 'robots.yaml');
    expect(inv.robots).toEqual([
      { name: 'Anton', ip: '192.168.50.11', user: 'anton', port: 22, sudo: false, role: 'auto', canBecomeManager: true, canBecomeLeader: true, zone: 'hall-a', labels: { HAS_2D_MAP_DATA: true } },
      { name: 'Ida', ip: '192.168.50.12', user: 'robot', port: 22, sudo: false, role: 'auto', canBecomeManager: true, canBecomeLeader: true, labels: {} },
    ]);
    expect(inv.swarm.managers).toBe('auto');
    expect(inv.swarm.leader).toBe('Anton');
  });

  it('rejects a hostile name, naming the robot, the field and the line', () => {
    const [p] = problems(valid.replace('name: Ida', 'name: "x;touch /tmp/p"'));
    expect(p).toMatch(/^line 10: robot "x;touch \/tmp\/p" \(robots\[1\]\) field "name": /);
  });

  it('rejects an address with options smuggled in', () => {
    const [p] = problems(valid.replace('ip: 192.168.50.12', 'ip: "1.2.3.4 -oProxyCommand=x"'));
    expect(p).toMatch(/line 11: robot "Ida" \(robots\[1\]\) field "ip": must be a static IPv4 address/);
  });

  it.each([
    ['user', 'user: anton', 'user: "-oProxyCommand=x"', /field "user"/],
    ['user with $', 'user: anton', 'user: "a$(id)"', /field "user"/],
    ['port', 'user: anton', 'user: anton\n    port: 70000', /field "port"/],
    ['port type', 'user: anton', 'user: anton\n    port: "22"', /field "port"/],
    ['role', 'user: anton', 'user: anton\n    role: boss', /field "role"/],
    ['label key', 'HAS_2D_MAP_DATA: true', '"a b": true', /field "labels/],
    ['label value', 'HAS_2D_MAP_DATA: true', 'X: "a;b"', /field "labels.X"/],
    ['octet', '192.168.50.11', '192.168.50.256', /field "ip"/],
    ['leading zero', '192.168.50.11', '192.168.050.11', /field "ip"/],
    ['unknown field', 'user: anton', 'user: anton\n    usr: x', /robots\[0\]/],
    ['zone', 'zone: hall-a', 'zone: "a b"', /field "zone"/],
  ])('rejects a bad %s', (_what, from, to, pattern) => {
    expect(problems(valid.replace(from, to)).join('\n')).toMatch(pattern);
  });

  it('rejects duplicate names ignoring case and duplicate addresses', () => {
    const text = valid.replace('name: Ida', 'name: ANTON').replace('192.168.50.12', '192.168.50.11');
    const all = problems(text).join('\n');
    expect(all).toMatch(/"name": the name is already used by robots\[0\]/);
    expect(all).toMatch(/"ip": the address is already used by robots\[0\]/);
  });

  it('rejects a leader that is not in the fleet or may not lead', () => {
    expect(problems(valid.replace('leader: Anton', 'leader: Bob')).join()).toMatch(/swarm.leader.*no robot is named "Bob"/);
    expect(problems(valid.replace('zone: hall-a', 'zone: hall-a\n    canBecomeLeader: false')).join()).toMatch(/may not lead/);
  });

  it('needs a user for every robot', () => {
    expect(problems(valid.replace('defaults: { user: robot, ', 'defaults: { ')).join()).toMatch(/robot "Ida".*no user here and none in defaults.user/);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problems('robots:\n  - name: [\n').join()).toMatch(/line \d+: YAML/);
  });

  it('rejects wrong YAML types without a crash', () => {
    for (const text of ['', '42', 'robots: 5', 'robots: [1, 2]', 'robots:\n  - name: 5\n    ip: 1.2.3.4\n    user: a', '[]']) {
      expect(problems(text).length).toBeGreaterThan(0);
    }
  });
});

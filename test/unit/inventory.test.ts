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
      {
        name: 'Anton',
        ip: '192.168.50.11',
        user: 'anton',
        port: 22,
        sudo: false,
        role: 'auto',
        canBecomeManager: true,
        canBecomeLeader: true,
        zone: 'hall-a',
        requireOverlay: true,
        labels: { HAS_2D_MAP_DATA: true },
      },
      {
        name: 'Ida',
        ip: '192.168.50.12',
        user: 'robot',
        port: 22,
        sudo: false,
        role: 'auto',
        canBecomeManager: true,
        canBecomeLeader: true,
        requireOverlay: true,
        labels: {},
      },
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

  it("takes user and port from the operator's ~/.ssh/config where the inventory sets none, else what ssh would use", () => {
    const noDefaults = valid.replace('defaults: { user: robot, port: 22, sudo: false }', 'defaults: { sudo: false }');
    const jumps = [{ name: 'gw', host: '10.0.0.1', port: 22, user: 'ops', identityFiles: [], identitiesOnly: false }];
    const fromConfig = (name: string, ip: string) =>
      name === 'Ida' || ip === '192.168.50.11'
        ? { user: 'cfguser', port: 2222, ssh: { identityFiles: ['/k'], identitiesOnly: true, jumps } }
        : {};
    const [anton, ida] = parseInventory(noDefaults, 'robots.yaml', fromConfig, 'localme').robots;
    expect(anton).toMatchObject({ user: 'anton', port: 2222 }); // the inventory's user wins, the config gives the port
    expect(ida).toMatchObject({ user: 'cfguser', port: 2222, ssh: { identityFiles: ['/k'], identitiesOnly: true, jumps } });
    expect(parseInventory(noDefaults, 'robots.yaml', () => ({}), 'localme').robots[1]).toMatchObject({ user: 'localme', port: 22 });
    expect(parseInventory(valid, 'robots.yaml', fromConfig, 'localme').robots[1]).toMatchObject({ user: 'robot', port: 22 }); // defaults win too
  });

  it('refuses a hostile user or jump host that comes from ~/.ssh/config, naming the robot', () => {
    const noUser = valid.replace('defaults: { user: robot, ', 'defaults: { ');
    let err: unknown;
    try {
      parseInventory(noUser, 'robots.yaml', () => ({ user: 'x;rm -rf /' }));
    } catch (e) {
      err = e;
    }
    expect((err as InventoryError).problems.join()).toMatch(/robot "Ida".*field "user".*"x;rm -rf \/".*not a Linux user name/);
    const badJump = {
      identityFiles: [],
      identitiesOnly: false,
      jumps: [{ name: 'gw', host: '$(reboot)', port: 22, user: 'ops', identityFiles: [], identitiesOnly: false }],
    };
    expect(() => parseInventory(valid, 'robots.yaml', () => ({ ssh: badJump }))).toThrow(
      /robot "Anton".*ProxyJump host "ops@\$\(reboot\)"/,
    );
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

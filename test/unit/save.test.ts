import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { loadInventory } from '../../src/inventory/load.js';
import { saveRoles, withRoles } from '../../src/inventory/save.js';

// The shipped example's style: aligned comments, flow maps, blank lines, a commented-out block.
const INVENTORY = `# provision inventory: the fleet, one entry per robot.
# \`provision roles\` writes roles back into it and keeps these comments.

defaults:
  user: robot        # Linux user on a robot when the robot does not name its own
  port: 22           # SSH port

swarm:
  managers: auto     # auto = largest odd number
  leader: Anton      # where docker swarm init runs
  # init:            # options of docker swarm init
  #   listenAddr: 0.0.0.0:2377

robots:
  - name: Anton              # the Host alias everywhere
    ip: 192.168.50.11        # static IPv4
    user: anton
    role: auto               # auto | manager | worker
    zone: hall-a             # managers are spread over zones
    labels: { HAS_2D_MAP_DATA: true }

  - name: Ida
    ip: 192.168.50.12
    user: ida
    labels: { HAS_3D_MAP_DATA: true }

  # Otto has no leader rights
  - name: Otto
    ip: 192.168.50.13
    canBecomeLeader: false   # may manage, never init
    zone: hall-b

  - { name: Emil, ip: 192.168.50.14, labels: { GPU: true } }
`;

function tempInventory(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'provision-save-'));
  const file = join(dir, 'robots.yaml');
  writeFileSync(file, text);
  return file;
}

describe('saveRoles', () => {
  it('writes roles and leader, keeps every comment, the key order and every unrelated line byte for byte', () => {
    const file = tempInventory(INVENTORY);
    chmodSync(file, 0o640);
    saveRoles(file, { Anton: 'worker', Ida: 'manager', Otto: 'manager', Emil: 'manager' }, 'Ida');
    const after = readFileSync(file, 'utf8');

    const inv = loadInventory(file);
    expect(inv.robots.map((r) => [r.name, r.role])).toEqual([
      ['Anton', 'worker'],
      ['Ida', 'manager'],
      ['Otto', 'manager'],
      ['Emil', 'manager'],
    ]);
    expect(inv.swarm.leader).toBe('Ida');
    expect(inv.swarm.managers).toBe('auto');

    // Exactly the expected lines changed or were added; all others are identical, in order.
    expect(after).toBe(
      INVENTORY.replace('  leader: Anton      # where', '  leader: Ida        # where')
        .replace('    role: auto               # auto', '    role: worker             # auto')
        .replace('    user: ida\n', '    user: ida\n    role: manager\n')
        .replace('    ip: 192.168.50.13\n', '    ip: 192.168.50.13\n    role: manager\n')
        .replace('ip: 192.168.50.14, labels', 'ip: 192.168.50.14, role: manager, labels'),
    );
    const removed = INVENTORY.split('\n').filter((l) => !after.split('\n').includes(l));
    expect(removed).toEqual([
      '  leader: Anton      # where docker swarm init runs',
      '    role: auto               # auto | manager | worker',
      '  - { name: Emil, ip: 192.168.50.14, labels: { GPU: true } }',
    ]);
    for (const comment of INVENTORY.match(/#.*$/gm) ?? []) expect(after).toContain(comment);
    expect(Object.keys(parseDocument(after).toJS().robots[0])).toEqual(['name', 'ip', 'user', 'role', 'zone', 'labels']);

    // Atomic: no temp file left behind, the mode kept.
    expect(readdirSync(join(file, '..'))).toEqual(['robots.yaml']);
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });

  it('is idempotent: the same roles again leave the file byte-identical', () => {
    const roles = { Anton: 'manager', Ida: 'worker', Otto: 'auto', Emil: 'worker' } as const;
    const once = withRoles(INVENTORY, roles, 'Anton');
    expect(withRoles(once, roles, 'Anton')).toBe(once);
    // 'auto' for a robot without a role line adds no line.
    expect(once).not.toMatch(/name: Otto[\s\S]*role:[\s\S]*Emil/);
  });

  it('adds swarm.leader when the inventory has no swarm section, above robots and its comment', () => {
    const text = 'defaults: { user: robot }\n\n# the fleet\nrobots:\n  - name: A\n    ip: 10.0.0.1\n';
    const out = withRoles(text, { A: 'manager' }, 'A');
    expect(out).toBe(
      'defaults: { user: robot }\n\nswarm:\n  leader: A\n\n# the fleet\nrobots:\n  - name: A\n    ip: 10.0.0.1\n    role: manager\n',
    );
  });

  it('refuses a result the inventory loader would refuse, and unknown robots, writing nothing', () => {
    const file = tempInventory(INVENTORY);
    expect(() => saveRoles(file, { Otto: 'manager' }, 'Otto')).toThrow(/may not lead/);
    expect(() => saveRoles(file, { Nobody: 'manager' }, 'Anton')).toThrow(/no robot named "Nobody"/);
    expect(readFileSync(file, 'utf8')).toBe(INVENTORY);
  });
});

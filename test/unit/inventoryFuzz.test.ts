import { describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { InventoryError, parseInventory } from '../../src/inventory/load.js';

// A small deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

const HOSTILE = [
  'x;touch /tmp/p',
  '$(reboot)',
  '`id`',
  '1.2.3.4 -oProxyCommand=x',
  '-oProxyCommand=x',
  '../../etc',
  'a\nb',
  "a'b",
  '',
  ' ',
  'Anton',
  '10.0.0.1',
  '999.1.1.1',
  '10.0.0.01',
  'root',
  '%n',
  '\u0000',
  '🤖',
  'a'.repeat(300),
];

function value(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * (depth > 2 ? 6 : 9));
  switch (pick) {
    case 0:
      return HOSTILE[Math.floor(r() * HOSTILE.length)];
    case 1:
      return Math.floor(r() * 70000) - 100;
    case 2:
      return r() < 0.5;
    case 3:
      return null;
    case 4:
      return r() * 10;
    case 5:
      return 'ok-value';
    case 6:
      return Array.from({ length: Math.floor(r() * 3) }, () => value(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(r() * 4) }, () => [
          ['name', 'ip', 'user', 'port', 'role', 'labels', 'zone', 'sudo', 'x'][Math.floor(r() * 9)] as string,
          value(r, depth + 1),
        ]),
      );
  }
}

function robot(r: () => number): Record<string, unknown> {
  const base: Record<string, unknown> = { name: 'Anton', ip: '10.0.0.1', user: 'anton' };
  for (const field of ['name', 'ip', 'user', 'port', 'role', 'labels', 'zone', 'canBecomeManager']) if (r() < 0.3) base[field] = value(r);
  return base;
}

describe('inventory fuzzing', () => {
  it('2000 random and hostile inventories: a valid inventory or a clear InventoryError, never a crash', () => {
    const r = rng(42);
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const doc =
        r() < 0.1
          ? value(r)
          : {
              defaults: r() < 0.2 ? value(r) : { port: 22 },
              swarm: r() < 0.2 ? value(r) : { managers: 'auto' },
              robots: Array.from({ length: 1 + Math.floor(r() * 3) }, () => robot(r)),
            };
      const text = r() < 0.05 ? (HOSTILE[i % HOSTILE.length] ?? '') : stringify(doc);
      try {
        const inv = parseInventory(text, 'fuzz.yaml');
        for (const rb of inv.robots) {
          expect(rb.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
          expect(rb.ip).toMatch(/^\d{1,3}(\.\d{1,3}){3}$/);
          expect(rb.user).toMatch(/^[a-z_][a-z0-9_.-]*$/);
          expect(Number.isInteger(rb.port)).toBe(true);
        }
      } catch (err) {
        if (!(err instanceof InventoryError)) throw new Error(`input #${i} crashed with ${String(err)}:\n${text}`);
        expect(err.message).toMatch(/^fuzz\.yaml: invalid inventory:/);
        expect(err.problems.length).toBeGreaterThan(0);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(1000);
  });
});

import { describe, expect, it } from '@jest/globals';
import {
  JOIN_WINDOW_MAX,
  JOIN_WINDOW_START,
  PENDING_CAP_MS,
  PENDING_STALL_MS,
  nextJoinWindow,
  pendingVerdict,
  runPaced,
} from '../../src/plan/pacing.js';

describe('join window', () => {
  it('widens by one per success (doubling per round) up to the cap, halves on a failure, never below 1', () => {
    let w = JOIN_WINDOW_START;
    const seen: number[] = [];
    for (let round = 0; round < 6; round++) {
      const size = w;
      for (let i = 0; i < size; i++) w = nextJoinWindow(w, true);
      seen.push(w);
    }
    expect(seen).toEqual([8, 16, 32, 32, 32, 32].map((n) => Math.min(n, JOIN_WINDOW_MAX)));
    expect(nextJoinWindow(32, false)).toBe(16);
    expect(nextJoinWindow(3, false)).toBe(1);
    expect(nextJoinWindow(1, false)).toBe(1);
  });
});

describe('waiting for a join that goes on in the background', () => {
  const t0 = 1_000_000;
  it('waits while the fleet makes progress, fails when nothing finished for the stall time or at the cap', () => {
    expect(pendingVerdict(t0 + PENDING_STALL_MS - 1, t0, 0)).toBe('wait');
    expect(pendingVerdict(t0 + PENDING_STALL_MS, t0, 0)).toBe('stalled');
    // Another join finished a minute ago: a 2-minute wait goes on.
    expect(pendingVerdict(t0 + 120_000, t0, t0 + 60_000)).toBe('wait');
    expect(pendingVerdict(t0 + PENDING_CAP_MS, t0, t0 + PENDING_CAP_MS - 1)).toBe('too long');
  });
});

describe('runPaced', () => {
  /** Stand-in joins: each resolves on the next tick with the given result; records the most in flight. */
  async function run(n: number, result: (i: number) => boolean) {
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    const items = Array.from({ length: n }, (_, i) => i);
    await runPaced(items, async (i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      order.push(i);
      return result(i);
    });
    return { most, order };
  }

  it('starts small and widens while joins succeed, never past the cap; every item runs once', async () => {
    const { most, order } = await run(200, () => true);
    expect(most).toBe(JOIN_WINDOW_MAX);
    expect(order.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('stays narrow while joins fail', async () => {
    const { most, order } = await run(40, () => false);
    expect(most).toBe(JOIN_WINDOW_START);
    expect(order).toHaveLength(40);
  });

  it('a join that throws counts as failed and does not stop the rest', async () => {
    const seen: number[] = [];
    let inFlight = 0;
    let most = 0;
    const items = Array.from({ length: 12 }, (_, i) => i);
    await runPaced(
      items,
      async (i) => {
        seen.push(i);
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        throw new Error(`boom ${i}`); // every join throws: counted as failures, the window never widens
      },
      4,
    );
    expect(seen.sort((a, b) => a - b)).toEqual(items); // and every item still ran
    expect(most).toBeLessThanOrEqual(4);
  });

  it('an empty list ends at once', async () => {
    await expect(runPaced([], async () => true)).resolves.toBeUndefined();
  });
});

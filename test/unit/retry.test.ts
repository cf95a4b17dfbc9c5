// The one retry loop and the one poll (src/run/retry.ts): backoff, bounds, which errors are retried.
import { describe, expect, it } from '@jest/globals';
import { backoffMs, pollUntil, retry } from '../../src/run/retry.js';

describe('backoffMs', () => {
  it('doubles from the base up to the cap; jitter spreads each wait by up to ± its share', () => {
    const none = { baseMs: 300, jitter: 0 };
    expect([1, 2, 3, 4].map((a) => backoffMs(none, a))).toEqual([300, 600, 1200, 2400]);
    expect([1, 2, 3, 4].map((a) => backoffMs({ baseMs: 50, maxMs: 200, jitter: 0 }, a))).toEqual([50, 100, 200, 200]);
    expect(backoffMs({ baseMs: 300, jitter: 0.25 }, 1, () => 0)).toBe(225);
    expect(backoffMs({ baseMs: 300, jitter: 0.25 }, 1, () => 1)).toBe(375);
    expect(backoffMs({ baseMs: 1000 }, 1, () => 0)).toBe(800); // 20 % by default
  });
});

describe('retry', () => {
  const flaky = (failures: number, error = new Error('dropped')) => {
    let calls = 0;
    return {
      work: async (attempt: number) => {
        calls++;
        if (attempt <= failures) throw error;
        return `ok after ${attempt}`;
      },
      calls: () => calls,
    };
  };

  it('tries again while the error is worth it, telling each retry', async () => {
    const f = flaky(2);
    const told: [number, number][] = [];
    const result = await retry(f.work, {
      attempts: 5,
      baseMs: 1,
      jitter: 0,
      retryIf: () => true,
      onRetry: (_e, n, ms) => told.push([n, ms]),
    });
    expect(result).toBe('ok after 3');
    expect(told).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('throws at once an error not worth another attempt, and the last one when out of attempts or time', async () => {
    const once = flaky(9);
    await expect(retry(once.work, { attempts: 5, baseMs: 1, retryIf: () => false })).rejects.toThrow('dropped');
    expect(once.calls()).toBe(1);
    const out = flaky(9);
    await expect(retry(out.work, { attempts: 3, baseMs: 1, retryIf: () => true })).rejects.toThrow('dropped');
    expect(out.calls()).toBe(3);
    const late = flaky(99);
    const started = Date.now();
    await expect(retry(late.work, { withinMs: 100, baseMs: 20, maxMs: 20, jitter: 0, retryIf: () => true })).rejects.toThrow('dropped');
    expect(Date.now() - started).toBeLessThan(200);
    expect(late.calls()).toBeGreaterThanOrEqual(4);
  });
});

describe('pollUntil', () => {
  it('asks until there is an answer, or gives undefined once the time is up', async () => {
    let n = 0;
    expect(await pollUntil(async () => (++n >= 3 ? n : undefined), 1, 1000)).toBe(3);
    const started = Date.now();
    expect(await pollUntil(async () => undefined, 10, 50)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(200);
  });
});

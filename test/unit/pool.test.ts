import { describe, expect, it } from '@jest/globals';
import { mapLimit, routesByDestination } from '../../src/ssh/pool.js';

describe('the route guard reads `ip -o -batch` output', () => {
  // As `ip -o -force -batch -` prints it for "route get" of four addresses (one had no route at all).
  const output = [
    '10.88.0.11 dev provbr0 src 10.88.0.1 uid 0 \\    cache ',
    'local 10.88.0.1 dev lo src 10.88.0.1 uid 0 \\    cache <local> ',
    'unreachable 10.88.0.13 uid 0 \\    cache <unreachable> ',
    '',
  ].join('\n');

  it('by the destination of each line, never by its source address', () => {
    const routes = routesByDestination(output);
    expect(routes.get('10.88.0.11')).toMatch(/dev provbr0/);
    expect(routes.get('10.88.0.1')).toMatch(/^local .* dev lo/); // not the first line, whose src is 10.88.0.1
    expect(routes.get('10.88.0.13')).toMatch(/^unreachable/);
    expect(routes.has('10.88.0.12')).toBe(false); // not answered: asked again on its own
  });
});

describe('mapLimit', () => {
  it('keeps at most `limit` in flight, and every item gets its own result in order', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (ms, i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, ms * 3));
      inFlight--;
      return `${i}:${ms}`;
    });
    expect(most).toBe(3);
    expect(results).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0', '6:6']);
  });
});

// Labels follow the inventory: provision's own labels are recorded on the node, so a label dropped
// from the inventory is removed and labels set by others are never touched.
import { describe, expect, it } from '@jest/globals';
import { describeLabelUpdate, isNoLabelUpdate, labelUpdate, MANAGED_LABELS } from '../../src/plan/labels.js';
import { labelAddCommand } from '../../src/remote/docker.js';
import { lineOf } from '../../src/remote/shell.js';

/** The node's labels after `docker node update` applied `u` (what dockerd does with --label-add/--label-rm). */
function applied(current: Record<string, string>, u: ReturnType<typeof labelUpdate>): Record<string, string> {
  const next = { ...current, ...u.add };
  for (const k of u.remove) delete next[k];
  return next;
}

describe('labels that follow the inventory', () => {
  it('records the labels it manages on a node labelled before the record existed, touching nothing else', () => {
    const u = labelUpdate({ CPU_COUNT: '4', BY_HAND: 'x' }, { CPU_COUNT: '4', ZONE_A: 'true' });
    expect(u).toEqual({ add: { ZONE_A: 'true', [MANAGED_LABELS]: 'CPU_COUNT,ZONE_A' }, remove: [] });
  });

  it('removes a label dropped from the inventory, updates a changed value, keeps hand-set labels', () => {
    const node = { CPU_COUNT: '4', OLD: 'true', COLOR: 'red', BY_HAND: 'x', [MANAGED_LABELS]: 'COLOR,CPU_COUNT,OLD' };
    const u = labelUpdate(node, { CPU_COUNT: '4', COLOR: 'blue' });
    expect(u).toEqual({ add: { COLOR: 'blue', [MANAGED_LABELS]: 'COLOR,CPU_COUNT' }, remove: ['OLD'] });
    const after = applied(node, u);
    expect(after).toEqual({ CPU_COUNT: '4', COLOR: 'blue', BY_HAND: 'x', [MANAGED_LABELS]: 'COLOR,CPU_COUNT' });
    expect(isNoLabelUpdate(labelUpdate(after, { CPU_COUNT: '4', COLOR: 'blue' }))).toBe(true); // the re-run changes nothing
    expect(describeLabelUpdate(u)).toBe('COLOR=blue -OLD');
  });

  it('never removes a recorded label someone already removed by hand (docker would refuse --label-rm of a missing key)', () => {
    expect(labelUpdate({ [MANAGED_LABELS]: 'GONE,A', A: '1' }, { A: '1' })).toEqual({ add: { [MANAGED_LABELS]: 'A' }, remove: [] });
  });

  it("a label the inventory takes over from a hand-set one is provision's from then on", () => {
    const first = applied({ BY_HAND: 'x' }, labelUpdate({ BY_HAND: 'x' }, { BY_HAND: 'y' }));
    expect(first[MANAGED_LABELS]).toBe('BY_HAND');
    expect(labelUpdate(first, {}).remove).toEqual(['BY_HAND']);
  });

  it('sends adds and removals in one docker node update, each value one argument', () => {
    const line = lineOf(labelAddCommand('abc', { A: '1' }, false, ['OLD']));
    expect(line).toContain('--label-rm');
    expect(line).toContain('OLD');
  });
});

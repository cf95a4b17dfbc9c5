// Node labels from facts and inventory (seeds/000): pure, so that only the difference is sent.
import type { Robot } from '../inventory/schema.js';

interface HardwareFacts {
  arch: string;
  cpus: number;
  memKb: number;
}

// RAM thresholds are "roughly": a 4 GB board reports a little less than 4 GiB of MemTotal.
const GIB_KB = 1024 * 1024;
const ramAtLeast = (memKb: number, gib: number) => memKb >= gib * GIB_KB * 0.9;

export function desiredLabels(robot: Robot, facts: HardwareFacts): Record<string, string> {
  const labels: Record<string, string> = {
    CAN_BECOME_MANAGER: String(robot.canBecomeManager),
    CAN_BECOME_LEADER: String(robot.canBecomeLeader),
    CPU_ARCHITECTURE: facts.arch,
    CPU_COUNT: String(facts.cpus),
    RAM_GE4: String(ramAtLeast(facts.memKb, 4)),
    RAM_GE8: String(ramAtLeast(facts.memKb, 8)),
    RAM_GE16: String(ramAtLeast(facts.memKb, 16)),
  };
  for (const [k, v] of Object.entries(robot.labels)) labels[k] = String(v);
  return labels;
}

/**
 * The node label where provision records which labels it manages (their names, sorted, comma-separated),
 * so that a label later dropped from the inventory can be removed without touching labels set by others.
 */
export const MANAGED_LABELS = 'provision.labels';

interface LabelUpdate {
  add: Record<string, string>; // labels to add or change (the record included when it changes)
  remove: string[]; // labels provision set earlier that the inventory no longer has
}

/**
 * What `docker node update` must do so the node carries `desired`. A label provision never recorded
 * (set by hand) is never removed; nodes labelled before the record existed get it on their next run.
 */
export function labelUpdate(current: Record<string, string>, desired: Record<string, string>): LabelUpdate {
  const wanted = Object.fromEntries(Object.entries(desired).filter(([k]) => k !== MANAGED_LABELS));
  const recorded = (current[MANAGED_LABELS] ?? '').split(',').filter(Boolean);
  const add = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => current[k] !== v));
  const remove = recorded.filter((k) => !(k in wanted) && k in current && k !== MANAGED_LABELS).sort();
  const record = Object.keys(wanted).sort().join(',');
  if (current[MANAGED_LABELS] !== record) add[MANAGED_LABELS] = record;
  return { add, remove };
}

export function isNoLabelUpdate(u: LabelUpdate): boolean {
  return !Object.keys(u.add).length && !u.remove.length;
}

/** One line for the report: what changed, the record left out (it is bookkeeping). */
export function describeLabelUpdate(u: LabelUpdate): string {
  const set = Object.entries(u.add)
    .filter(([k]) => k !== MANAGED_LABELS)
    .map(([k, v]) => `${k}=${v}`);
  const parts = [...set, ...u.remove.map((k) => `-${k}`)];
  return parts.length ? parts.join(' ') : `recorded the labels it manages (${MANAGED_LABELS})`;
}

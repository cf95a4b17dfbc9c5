// Node labels from facts and inventory (seeds/000): pure, so that only the difference is sent.
import type { Robot } from '../inventory/schema.js';

export interface HardwareFacts { arch: string; cpus: number; memKb: number }

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

/** Labels to add or change; labels on the node that provision does not manage are left alone. */
export function labelChanges(current: Record<string, string>, desired: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(desired).filter(([k, v]) => current[k] !== v));
}

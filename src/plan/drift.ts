// Drift: what the swarm and the robots' managed blocks hold that the inventory does not — nodes of no
// inventory robot, and block lines trusting robots that are no longer in it. Pure: found here, reported
// by the steps, removed only with --prune (a swarm may hold nodes other people added).
import type { NodeInfo } from '../remote/docker.js';
import { splitManagedBlock } from '../remote/managedBlock.js';
import type { ManagedSshFile } from '../remote/keysScript.js';

/**
 * Nodes that belong to no inventory robot: not the node of a robot reached (by node ID) and not at any
 * robot's address (a robot's own old node is a stale node, cleaned up by `swarm`, not drift).
 */
export function strangerNodes(nodes: readonly NodeInfo[], robotIps: readonly string[], robotNodeIds: readonly string[]): NodeInfo[] {
  const ids = new Set(robotNodeIds);
  const ips = new Set(robotIps);
  return nodes.filter((n) => !ids.has(n.id) && !ips.has(n.addr));
}

const ROBOT_TAG = / provision:robot:([A-Za-z0-9_-]+)$/;

/** The robot name a managed block line is about, or null (operator keys, `Host *`, a Host entry's body). */
function blockLineRobot(file: ManagedSshFile, line: string) {
  if (file === 'authorized_keys') return ROBOT_TAG.exec(line)?.[1] ?? null;
  if (file === 'known_hosts') return (line.split(/[\s,]/)[0] ?? '').replace(/^\[/, '').replace(/\]:\d+$/, '') || null;
  const host = /^Host\s+(\S+)\s*$/.exec(line)?.[1];
  return host && host !== '*' ? host : null;
}

export function strangersInBlock(file: ManagedSshFile, text: string, inventory: readonly string[]): string[] {
  return strangerNames(file, strangerLines(file, text, inventory));
}

/** The robots that stranger lines (strangerLines) are about. */
export function strangerNames(file: ManagedSshFile, lines: readonly string[]): string[] {
  return [...new Set(lines.map((line) => blockLineRobot(file, line)))].filter((name) => name !== null);
}

/**
 * The block lines about robots not in the inventory, to keep them when the block is merged again
 * without --prune. For config, a Host entry's lines up to the next `Host`.
 */
export function strangerLines(file: ManagedSshFile, text: string, inventory: readonly string[]): string[] {
  return strangerBlockLines(file, splitManagedBlock(text).block ?? [], new Set(inventory));
}

/** strangerLines of a block's lines; `known`: a set (every robot's block has a line per robot: N² lookups a fleet). */
export function strangerBlockLines(file: ManagedSshFile, block: readonly string[], known: ReadonlySet<string>): string[] {
  const kept: string[] = [];
  let inStranger = false;
  for (const line of block) {
    if (file === 'config' && /^Host\s/.test(line)) inStranger = false;
    const robot = blockLineRobot(file, line);
    if (robot && !known.has(robot)) {
      kept.push(line);
      inStranger = file === 'config';
    } else if (inStranger) kept.push(line);
  }
  return kept;
}

export function blockDriftText(strangers: readonly string[], prune: boolean, dry: boolean): string {
  const who = strangers.join(', ');
  if (prune) return `${dry ? 'would drop' : 'dropped'} from its managed blocks the robots not in the inventory: ${who}`;
  return `drift: its managed blocks still trust robots not in the inventory: ${who} (kept; --prune drops them)`;
}

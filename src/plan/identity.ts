// Pure: whether the swarm node a robot reports (its `docker info` NodeID) is really its own. A robot
// with a copied /var/lib/docker/swarm, or one that lies, would otherwise get the role, the token and the
// labels of another node, and the wrong node would be demoted or removed. What decides is the address:
// robots cloned from one image share a hostname, but each has its own static address.
import type { NodeInfo } from '../remote/docker.js';

/** What a robot says of its node, and who it is. */
export interface Claim {
  robot: string;
  /** Its inventory address (where provision reached it). */
  ip: string;
  /** Its hostname fact. */
  hostname: string;
  nodeId: string;
  /** The address its engine advertises (docker info's NodeAddr): kept in its swarm state, so a copy keeps the original's. */
  advertised: string;
}

export interface Refusal {
  robot: string;
  nodeId: string;
  why: string;
}

const short = (id: string) => id.slice(0, 12);
const NOTHING_DONE = 'Nothing is done to that node, nor to any other node of';
const WIPE = 'stop docker, remove /var/lib/docker/swarm, start docker; then run provision swarm again';

/**
 * Robots reporting the same node ID: two engines hold one node's identity, and the swarm sees whichever
 * spoke last (measured on docker 20.10: the node's address and hostname flip to the copy's) — neither
 * is trusted. The copy is named when its engine advertises another claimant's address.
 */
export function sharedClaims(claims: readonly Claim[]): Refusal[] {
  const byNode = new Map<string, Claim[]>();
  for (const c of claims.filter((x) => x.nodeId)) byNode.set(c.nodeId, [...(byNode.get(c.nodeId) ?? []), c]);
  const refusals: Refusal[] = [];
  for (const [nodeId, group] of byNode) {
    if (group.length < 2) continue;
    const copies = group.filter((c) => c.advertised !== c.ip && group.some((o) => o !== c && o.ip === c.advertised));
    const hint = copies
      .map(
        (c) =>
          `${c.robot}'s engine advertises ${c.advertised}, ${group.find((o) => o.ip === c.advertised)?.robot}'s address: ${c.robot} holds the copy. `,
      )
      .join('');
    for (const c of group) {
      const others = group.filter((o) => o !== c).map((o) => o.robot);
      refusals.push({
        robot: c.robot,
        nodeId,
        why:
          `reports swarm node ${short(nodeId)}, as ${others.join(' and ')} ${others.length === 1 ? 'does' : 'do'}: one holds a copy of the other's ` +
          `/var/lib/docker/swarm, and the swarm cannot tell which is the node. ${NOTHING_DONE} ${[c.robot, ...others].join(' or ')}. ` +
          `${hint}On the copy: ${WIPE}`,
      });
    }
  }
  return refusals;
}

/**
 * Claims checked against the manager's node list (claims of nodes not in it are another question: a
 * foreign swarm). A claim holds when the swarm has the node at the robot's address; when the node's
 * address is none of the fleet's (0.0.0.0, an advertise address on another interface), when its hostname
 * matches. A robot whose engine advertises another robot's address holds that robot's swarm state,
 * whatever the swarm shows (a connected copy moves the node to its own address).
 */
export function falseClaims(
  claims: readonly Claim[],
  nodes: readonly NodeInfo[],
  robots: readonly { name: string; ip: string }[],
): Refusal[] {
  const robotAt = (ip: string) => (ip ? robots.find((r) => r.ip === ip)?.name : undefined);
  const refusals: Refusal[] = [];
  for (const c of claims) {
    const node = nodes.find((n) => n.id === c.nodeId);
    if (!node) continue;
    const seen = `the swarm has node ${short(node.id)} at ${node.addr || 'no known address'} with hostname ${node.hostname || '(none)'}${node.state === 'down' ? ' (down)' : ''}`;
    const me = `${c.robot} is at ${c.ip} with hostname ${c.hostname || '(none)'}`;
    const refuse = (owner: string | undefined, what: string) =>
      refusals.push({
        robot: c.robot,
        nodeId: c.nodeId,
        why:
          `reports swarm node ${short(c.nodeId)}, ${what}; ${me}. ${NOTHING_DONE} ${c.robot}${owner ? ` or ${owner}` : ''}. ` +
          `If ${c.robot} holds a copy of ${owner ? `${owner}'s` : "another node's"} /var/lib/docker/swarm: on ${c.robot}, ${WIPE}`,
      });
    const advertisedOwner = c.advertised !== c.ip ? robotAt(c.advertised) : undefined;
    if (advertisedOwner && advertisedOwner !== c.robot) {
      refuse(advertisedOwner, `but its engine advertises ${c.advertised}, ${advertisedOwner}'s address, and ${seen}`);
      continue;
    }
    if (node.addr === c.ip) continue;
    const addrOwner = robotAt(node.addr);
    if (addrOwner) refuse(addrOwner, `which is ${addrOwner}'s: ${seen}`);
    else if (node.hostname !== c.hostname) refuse(undefined, `which is not its own: ${seen}`);
  }
  return refusals;
}

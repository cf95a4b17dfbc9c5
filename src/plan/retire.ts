// Pure: what retiring one robot takes, in order, from what the swarm says of its node and whether
// the robot itself answers. `provision remove` carries these out and a dry run lists them.

type RetireAction = 'drain' | 'demote' | 'leave' | 'remove-node' | 'remove-tokens';

export interface RetireInput {
  node: { role: 'manager' | 'worker'; availability: string; leader: boolean } | null;
  reachable: boolean;
}

/**
 * Drain first (its tasks move while it is still a node), then demote a manager (the remaining
 * managers keep quorum: replacements were promoted before), then the robot leaves, then the node is
 * removed (forced: a node that just left, or a gone one, is not yet `down`), then its token files go.
 * A gone robot gets what the managers alone can do.
 */
export function retirePlan({ node, reachable }: RetireInput): RetireAction[] {
  const steps: RetireAction[] = [];
  if (node) {
    if (node.availability !== 'drain') steps.push('drain');
    if (node.role === 'manager') steps.push('demote');
    if (reachable) steps.push('leave');
    steps.push('remove-node');
  }
  if (reachable) steps.push('remove-tokens');
  return steps;
}

export function notDoneWhileGone(input: RetireInput): string {
  return input.node
    ? 'not done on the robot itself (unreachable): docker swarm leave and removing ~/swarm_tokens — should it come back, run `docker swarm leave --force` and `rm -r ~/swarm_tokens` there'
    : 'not done on the robot itself (unreachable): removing ~/swarm_tokens';
}

export const RETIRE_WORDS: Record<RetireAction, string> = {
  drain: 'drain its node (its tasks move to other nodes)',
  demote: 'demote it to worker',
  leave: 'leave the swarm (docker swarm leave --force on it)',
  'remove-node': 'remove its node (docker node rm --force)',
  'remove-tokens': 'remove ~/swarm_tokens',
};

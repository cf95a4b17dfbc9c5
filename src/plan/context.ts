// provision context's decision: which manager the operator's docker context points at. Pure.

export interface ManagerCandidate {
  name: string;
  user: string;
  ip: string;
  port: number;
  leader: boolean;
}

/** docker's ssh:// endpoint for a robot (the port only where it is not 22). */
export function sshEndpoint(m: Pick<ManagerCandidate, 'user' | 'ip' | 'port'>): string {
  return `ssh://${m.user}@${m.ip}${m.port === 22 ? '' : `:${m.port}`}`;
}

export interface ContextDecision {
  target: ManagerCandidate | null;
  host: string | null;
  /** 'create': no context yet; 'move': it pointed elsewhere; 'keep': already right. */
  change: 'create' | 'move' | 'keep' | 'none';
  /** Why it moved, in words. */
  why: string | null;
}

/**
 * The leader first, then the other reachable managers in inventory order. A context that already points
 * at a reachable manager stays there (no churn when leadership moves); one that points at a robot that is
 * gone or no longer a manager moves.
 */
export function decideContext(reachableManagers: readonly ManagerCandidate[], current: string | null): ContextDecision {
  const ordered = [...reachableManagers.filter((m) => m.leader), ...reachableManagers.filter((m) => !m.leader)];
  const stay = current ? ordered.find((m) => sshEndpoint(m) === current) : undefined;
  const target = stay ?? ordered[0] ?? null;
  if (!target) return { target: null, host: null, change: 'none', why: 'no reachable manager: is there a swarm (provision up)?' };
  const host = sshEndpoint(target);
  if (current === null) return { target, host, change: 'create', why: null };
  if (current === host) return { target, host, change: 'keep', why: null };
  return { target, host, change: 'move', why: `${current} is no reachable manager of the swarm now` };
}

// What a run did on each robot, and what it found of the swarm: what the steps record and the UI renders.
import type { NodeInfo } from '../remote/docker.js';
import type { RolePlan } from '../plan/quorum.js';

export type Status = 'changed' | 'joined' | 'ok' | 'unreachable' | 'failed';

export interface RobotOutcome {
  robot: string;
  status: Status;
  details: string[]; // what changed (or would change), or why it failed
  notes: string[]; // the details that are notes (neither a change nor the failure): the report folds those shared by robots
}

export interface SwarmReport {
  plan: RolePlan | null;
  clusterId: string | null;
  nodes: NodeInfo[];
  initialised: string | null; // the robot `swarm init` ran on, if it did
  robotOfNode: Map<string, string>; // node ID → robot name, from each robot's own docker info
  handOver: { from: string; to: string } | null; // the leader handed over in this run
  notes: string[]; // about the swarm as a whole (e.g. the node list could not be read again)
}

/** What `provision status` found: every robot, its swarm state and role, and whether quorum holds. */
export interface RobotStatus {
  name: string;
  ip: string;
  reachable: boolean;
  swarmState: string; // inactive | active | pending | error | locked | unknown | foreign
  nodeId: string | null;
  role: 'manager' | 'worker' | null;
  leader: boolean;
  nodeState: string | null; // ready | down … as the managers see the node
  availability: string | null;
  labels: Record<string, string>;
}

export interface FleetStatus {
  clusterId: string | null;
  robots: RobotStatus[];
  managers: number;
  reachableManagers: number;
  quorum: boolean;
  failuresToleratedNow: number;
  failuresToleratedByDesign: number;
  /** What the swarm and the robots' managed blocks hold that the inventory does not (see plan/drift.ts). */
  drift: { nodes: { id: string; hostname: string; addr: string; role: string; state: string }[]; blocks: Record<string, string[]> };
}

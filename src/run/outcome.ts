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

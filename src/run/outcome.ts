// What a run did on each robot, and found of the swarm: the steps record it, the UI renders it.
import type { NodeInfo } from '../remote/docker.js';
import type { RolePlan } from '../plan/quorum.js';
import type { PreflightReport } from '../plan/preflight.js';

export interface RobotOutcome {
  robot: string;
  /** interrupted: Ctrl-C came before the run was done with it (whatever it did is in the details). */
  status: 'changed' | 'joined' | 'ok' | 'unreachable' | 'failed' | 'interrupted';
  details: string[]; // what changed (or would change), or why it failed
  notes: string[]; // the details that are neither change nor failure: the report folds those robots share
}

export interface SwarmReport {
  plan: RolePlan | null;
  clusterId: string | null;
  nodes: NodeInfo[];
  initialised: string | null; // the robot `swarm init` ran on, if it did
  robotOfNode: Map<string, string>; // node ID → robot name
  handOver: { from: string; to: string } | null;
  notes: string[]; // about the swarm as a whole
  preflight?: PreflightReport; // swarm and up: what the robots share, read before any join
}

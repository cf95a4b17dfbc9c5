// What a run did on each robot: what the steps record and the UI renders.

export type Status = 'changed' | 'joined' | 'ok' | 'unreachable' | 'failed';

export interface RobotOutcome {
  robot: string;
  status: Status;
  details: string[]; // what changed (or would change), or why it failed
  notes: string[]; // the details that are notes (neither a change nor the failure): the report folds those shared by robots
}

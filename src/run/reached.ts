import type { Fleet } from './fleet.js';

export type Reached = ReturnType<Fleet['connected']>[number];

/** The robots still in the run, in inventory order. */
export const liveRobots = (fleet: Fleet) => fleet.connected().map((c) => c.robot.name);

/** A phase's work on one robot (`each`), given the robot and its connection. */
export const onRobot =
  <S extends { fleet: Fleet }>(work: (s: S, r: Reached) => Promise<void>) =>
  (s: S, name: string) =>
    work(
      s,
      s.fleet.connected().find((c) => c.robot.name === name)!,
    );

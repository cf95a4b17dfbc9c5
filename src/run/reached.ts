import type { Fleet } from './fleet.js';
import type { Robot } from '../inventory/schema.js';

export type Reached = ReturnType<Fleet['connected']>[number];

/** The robots still in the run, in inventory order. */
export const liveRobots = (fleet: Fleet) => fleet.connected().map((c) => c.robot.name);

/** A phase's work on one robot (`each`), given the robot and its connection. */
export const onRobot =
  <S extends { fleet: Fleet }>(work: (s: S, r: Reached) => Promise<void>) =>
  (s: S, name: string) =>
    work(s, reachedNamed(s.fleet, name));

// By name, not a scan of the fleet per robot (N² at 1000 robots): the robots of an inventory, once.
const byName = new WeakMap<readonly Robot[], Map<string, Robot>>();

function reachedNamed(fleet: Fleet, name: string): Reached {
  const robots = fleet.inventory.robots;
  let named = byName.get(robots);
  if (!named) byName.set(robots, (named = new Map(robots.map((r) => [r.name, r]))));
  const r = fleet.reach.get(name);
  return { robot: named.get(name)!, conn: (r?.ok ? r.conn : undefined)! };
}

// The robots a step's phases work on, by name (a phase's `robots` and `each` speak names).
import type { Fleet } from './fleet.js';

export type Reached = ReturnType<Fleet['connected']>[number];

/** The robots reached when the step starts, by name: a phase's work on one robot finds its connection here. */
export function reachedRobots(fleet: Fleet): Map<string, Reached> {
  return new Map(fleet.connected().map((c) => [c.robot.name, c]));
}

/** The robots still in the run (connected, not failed), in inventory order. */
export function liveRobots(fleet: Fleet): string[] {
  return fleet.connected().map((c) => c.robot.name);
}

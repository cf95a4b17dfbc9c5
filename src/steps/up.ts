// `provision up`'s composition: keys, then swarm, over the same connections and run lock (the CLI adds
// the report and --check; test/unit/upRoundTrips.test.ts counts what it sends).
import type { Fleet } from '../run/fleet.js';
import type { Robot } from '../inventory/schema.js';
import { batch, type RemoteCommand } from '../remote/shell.js';
import { managerReadCommand } from '../remote/docker.js';
import type { ExecResult } from '../ssh/connection.js';
import { checkMeshLast, keysOpening, runKeys } from './keys.js';
import { runSwarm, type SwarmReport } from './swarm.js';
import { pathMtuReads } from './preflight.js';
import { factsFirstCommand, preflightFirstCommand, type Member } from './swarmState.js';

/**
 * With the run lock, in one remote call: keys' first read and swarm's, facts and preflight (each answers
 * its phase, see Fleet.firstRead), and a manager's node list and join tokens (the plan's and the tokens
 * phase's, from the fleet's manager: a re-run then asks no manager again; elsewhere it fails at once).
 */
export const upOpening = (fleet: Pick<Fleet, 'inLimit' | 'options'>) => (robot: Robot) =>
  batch([keysOpening(fleet)(robot), factsFirstCommand(robot), preflightFirstCommand(robot), managerReadCommand(robot.sudo)]);

/**
 * `last`: nothing follows (no --check, no --install-service): the keys' mesh check goes after the swarm,
 * each robot's run lock released in the call of its probe (one remote call less per robot), and the
 * swarm's last call (labels still due, the node list) rides on its manager's (one wave less). Otherwise
 * the mesh check ends the keys part, as `provision keys` alone would, and the lock stays for what follows.
 */
export async function runUp(
  fleet: Fleet,
  options: { verify: boolean; last: boolean },
): Promise<{ keys: { json: object } | void; report: SwarmReport }> {
  // A robot's ~/.ssh write carries its path-MTU read (the preflight's, used where some robot joins);
  // planned once for the robots connected at the first write, not once per robot (N² at 1000).
  let reads: ((robot: string) => string | undefined) | undefined;
  const rideOnWrite = (robot: Robot) =>
    (reads ??= pathMtuReads(
      fleet,
      fleet.connected().map((c) => c.robot),
    ))(robot.name);
  const keys = await runKeys(fleet, { verify: options.verify, mesh: options.last ? 'later' : 'now', rideOnWrite });
  const meshed = keys?.meshed;
  if (!meshed) return { keys, report: await runSwarm(fleet) };
  // The mesh check starts once the swarm's last call waits for it (or the swarm ended without one).
  let swarmDone = () => {};
  const ready = new Promise<void>((resolve) => (swarmDone = resolve));
  const lastCall = (manager: Member, parts: RemoteCommand[]): Promise<ExecResult[]> => {
    const answered = fleet.rideOnRelease(manager.robot.name, manager.conn, parts);
    swarmDone();
    return answered;
  };
  const swarm = runSwarm(fleet, { lastCall }).finally(swarmDone);
  swarm.catch(() => undefined); // awaited below, after the mesh check
  await ready;
  let mesh: { json: object } | undefined;
  try {
    mesh = await checkMeshLast(fleet, meshed);
  } finally {
    await fleet.flushRides(); // a last call no probe took (its robot left the mesh, or Ctrl-C): on its own
    await swarm.catch(() => undefined);
  }
  return { keys: mesh, report: await swarm };
}

// `provision recover --on ROBOT`: the explicit way out of a lost quorum. `docker swarm init --force-new-cluster`
// on the named manager keeps the swarm's state with it the only manager; `provision swarm` then rebuilds the rest.
import { forceNewClusterCommand } from '../remote/docker.js';
import type { Fleet } from '../run/fleet.js';
import { runPhases, type Phase } from '../run/phases.js';
import { gatherMembers, type Member } from './swarmState.js';

export async function runRecover(fleet: Fleet, on: string): Promise<void> {
  await runPhases(fleet, { fleet, on }, RECOVER_PHASES);
}

export const RECOVER_PHASES: readonly Phase<{ fleet: Fleet; on: string; target?: Member }>[] = [
  {
    title: 'finding the manager to recover on',
    run: async (s) => {
      s.target = await recoverOn(s.fleet, s.on);
      return s.target ? undefined : 'stop';
    },
  },
  {
    title: 'forcing a new cluster',
    robots: (s) => [s.target!.robot.name],
    // `run`, not `each`: a failure here ends the step for every robot.
    run: async ({ fleet, target }) => {
      const { robot, conn } = target!;
      await conn.run(forceNewClusterCommand(robot.ip, robot.sudo), 'docker swarm init --force-new-cluster');
      fleet.changed(robot.name, 'is now the only manager of the recovered swarm; run provision swarm to restore the managers');
    },
    dryRun: ({ fleet, target }) =>
      fleet.changed(target!.robot.name, `would run docker swarm init --force-new-cluster --advertise-addr ${target!.robot.ip}`),
  },
];

/** The robot named, if it answers and manages a swarm; else the step ends. */
async function recoverOn(fleet: Fleet, on: string): Promise<Member | undefined> {
  const members = await gatherMembers(fleet);
  const target = members.find((m) => m.robot.name.toLowerCase() === on.toLowerCase());
  if (!target) {
    for (const m of members) fleet.note(m.robot.name, `not changed: ${on} is not a reachable robot with docker`);
    if (!fleet.inventory.robots.some((r) => r.name.toLowerCase() === on.toLowerCase()))
      throw new Error(`--on ${on}: no robot of that name in the inventory`);
    const named = fleet.inventory.robots.find((r) => r.name.toLowerCase() === on.toLowerCase())?.name ?? on;
    if (fleet.outcomes.get(named)?.status !== 'failed') fleet.failed(named, 'not reachable: recover on a manager that answers'); // else said why (e.g. a shared node ID)
  } else if (!target.facts.swarm?.ControlAvailable) {
    fleet.failed(target.robot.name, 'is not a manager of a swarm: --force-new-cluster only recovers from a manager');
  } else return target;
}

// `provision recover --on ROBOT`: the explicit way out of a swarm that lost quorum. It runs
// `docker swarm init --force-new-cluster` on the manager the operator names, which keeps the swarm's
// state and makes that robot the only manager; `provision swarm` then rebuilds the manager set.
import { forceNewClusterCommand } from '../remote/docker.js';
import type { Fleet } from '../run/fleet.js';
import { gatherMembers } from './swarmState.js';

export async function runRecover(fleet: Fleet, on: string): Promise<void> {
  const members = await gatherMembers(fleet);
  const target = members.find((m) => m.robot.name.toLowerCase() === on.toLowerCase());
  if (!target) {
    for (const m of members) fleet.note(m.robot.name, `not changed: ${on} is not a reachable robot with docker`);
    if (!fleet.inventory.robots.some((r) => r.name.toLowerCase() === on.toLowerCase()))
      throw new Error(`--on ${on}: no robot of that name in the inventory`);
    fleet.failed(on, 'not reachable: recover on a manager that answers');
    return;
  }
  if (!target.facts.swarm?.ControlAvailable) {
    fleet.failed(target.robot.name, 'is not a manager of a swarm: --force-new-cluster only recovers from a manager');
    return;
  }
  if (fleet.options.dryRun) {
    fleet.changed(target.robot.name, `would run docker swarm init --force-new-cluster --advertise-addr ${target.robot.ip}`);
    return;
  }
  await target.conn.run(forceNewClusterCommand(target.robot.ip, target.robot.sudo), 'docker swarm init --force-new-cluster');
  fleet.changed(target.robot.name, 'is now the only manager of the recovered swarm; run provision swarm to restore the managers');
}

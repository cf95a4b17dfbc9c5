// `provision up`'s composition: keys, then swarm, over the same connections and run lock (the CLI adds
// the report and --check; test/unit/upRoundTrips.test.ts counts what it sends).
import type { Fleet } from '../run/fleet.js';
import { keysOpening, runKeys } from './keys.js';
import { runSwarm, type SwarmReport } from './swarm.js';

export { keysOpening as upOpening };

export async function runUp(fleet: Fleet, options: { verify: boolean }): Promise<{ keys: { json: object } | void; report: SwarmReport }> {
  const keys = await runKeys(fleet, { verify: options.verify });
  const report = await runSwarm(fleet);
  return { keys, report };
}

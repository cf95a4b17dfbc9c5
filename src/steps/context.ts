// `provision context`: a docker context on the operator's laptop that points at a reachable manager,
// so `docker --context provision-<fleet> node ls` works from there (docker's ssh:// uses the system ssh
// and the operator's ~/.ssh: the key provision installed, the host key provision pinned).
import { spawnSync } from 'node:child_process';
import type { Fleet } from '../run/fleet.js';
import { fleetName } from '../run/lastCheck.js';
import { decideContext, type ContextDecision } from '../plan/context.js';
import { fleetClusters, gatherMembers, listNodes, type Member } from './swarmState.js';

export interface ContextResult extends ContextDecision {
  name: string;
  previous: string | null;
  used: boolean;
  /** false: no docker CLI on this laptop (the DOCKER_HOST line instead). */
  docker: boolean;
  /** The context answered (docker --context NAME info); null: not tried (dry run, no docker). */
  works: boolean | null;
  problem: string | null;
}

function docker(args: string[], timeoutMs = 30_000) {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    missing: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT',
    code: r.status ?? -1,
    out: r.stdout ?? '',
    err: (r.stderr ?? '').trim(),
  };
}

/** Where the context points now; null: there is none. */
function currentHost(name: string): string | null {
  const r = docker(['context', 'inspect', name, '--format', '{{.Endpoints.docker.Host}}']);
  return r.code === 0 ? r.out.trim() || null : null;
}

async function reachableManagers(fleet: Fleet) {
  const members = await gatherMembers(fleet);
  const cluster = fleetClusters(fleet, members)[0];
  if (!cluster) return [];
  const managers = cluster[1];
  const nodes = await listNodes(managers[0] as Member);
  return managers.map((m) => ({
    name: m.robot.name,
    user: m.robot.user,
    ip: m.robot.ip,
    port: m.robot.port,
    leader: nodes.some((n) => n.id === m.facts.swarm?.NodeID && n.leader),
  }));
}

export async function runContext(fleet: Fleet, use: boolean): Promise<ContextResult> {
  const name = `provision-${fleetName(fleet.inventory.file)}`;
  const hasDocker = !docker(['--version'], 10_000).missing;
  const previous = hasDocker ? currentHost(name) : null;
  const decision = decideContext(await reachableManagers(fleet), previous);
  const result: ContextResult = { ...decision, name, previous, used: false, docker: hasDocker, works: null, problem: null };
  if (!decision.host || !hasDocker || fleet.options.dryRun) return result;
  if (decision.change !== 'keep') {
    const args = decision.change === 'create' ? ['context', 'create', name] : ['context', 'update', name];
    const made = docker([...args, '--description', `provision: the swarm of ${fleet.inventory.file}`, '--docker', `host=${decision.host}`]);
    if (made.code !== 0) return { ...result, problem: `docker ${args.slice(0, 2).join(' ')} failed: ${made.err}` };
  }
  if (use) {
    const r = docker(['context', 'use', name]);
    if (r.code !== 0) return { ...result, problem: `docker context use failed: ${r.err}` };
    result.used = true;
  }
  // Proof it works: docker over ssh:// logs in with the operator's own ssh and asks the manager.
  const info = docker(['--context', name, 'info', '--format', '{{.Swarm.ControlAvailable}}']);
  result.works = info.code === 0 && info.out.trim() === 'true';
  if (!result.works)
    result.problem = `docker --context ${name} info did not answer as a manager: ${info.err || info.out.trim()} (can your ssh log in as ${decision.host?.slice(6)} without a password prompt?)`;
  return result;
}

export function contextText(r: ContextResult, dryRun: boolean): string {
  if (!r.host) return `  no context: ${r.why}`;
  const would = dryRun ? 'would ' : '';
  const lines: string[] = [];
  if (!r.docker) {
    lines.push(`  no docker CLI on this laptop: point a docker client at ${r.target?.name} with`, `  export DOCKER_HOST=${r.host}`);
    return lines.join('\n');
  }
  if (r.change === 'create')
    lines.push(`  ${would}create docker context ${r.name} → ${r.host} (${r.target?.name}${r.target?.leader ? ', the leader' : ''})`);
  if (r.change === 'move')
    lines.push(`  ${would}move docker context ${r.name} from ${r.previous} to ${r.host} (${r.target?.name}): ${r.why}`);
  if (r.change === 'keep') lines.push(`  docker context ${r.name} already points at ${r.host} (${r.target?.name}), a reachable manager`);
  if (r.used) lines.push(`  docker context ${r.name} is now the current one`);
  if (r.works) lines.push(`  it works: docker --context ${r.name} node ls`);
  if (r.problem) lines.push(`  problem: ${r.problem}`);
  return lines.join('\n');
}

export function contextJson(r: ContextResult): object {
  return {
    context: {
      name: r.name,
      host: r.host,
      robot: r.target?.name ?? null,
      leader: r.target?.leader ?? false,
      change: r.change,
      previous: r.previous,
      why: r.why,
      used: r.used,
      docker: r.docker,
      dockerHost: r.host ? `DOCKER_HOST=${r.host}` : null,
      works: r.works,
      problem: r.problem,
    },
  };
}

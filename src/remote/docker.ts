// Builders and parsers for Docker: facts, swarm init/join, node updates, token files. Tokens travel
// on stdin, in files on the robot, or in a request body to the engine (the join), never on a command line:
// provision logs those, and any user of a robot sees every process's arguments.
import { createHash } from 'node:crypto';
import { dockerCommand, dockerScript, remoteScript, type RemoteCommand } from './shell.js';
import { z } from 'zod';
import { parseJsonShaped, unexpectedAnswer } from './answer.js';
import { script } from './scripts.js';

export interface SwarmInfo {
  NodeID: string;
  NodeAddr: string;
  LocalNodeState: string; // inactive | pending | active | error | locked
  ControlAvailable: boolean;
  Error: string;
  RemoteManagers: { NodeID: string; Addr: string }[] | null;
  Cluster?: { ID: string } | null;
}

// What provision reads of docker's JSON, checked: fields it does not use may be anything.
const SWARM_INFO = z.looseObject({
  NodeID: z.string(),
  NodeAddr: z.string().optional(),
  LocalNodeState: z.string(),
  ControlAvailable: z.boolean().optional(),
  Error: z.string().optional(),
  RemoteManagers: z.array(z.looseObject({ NodeID: z.string(), Addr: z.string() })).nullish(),
  Cluster: z.looseObject({ ID: z.string() }).nullish(),
});

const NODE = z.looseObject({
  ID: z.string().min(1),
  Spec: z.looseObject({
    Role: z.enum(['manager', 'worker']),
    Availability: z.string(),
    Labels: z.record(z.string(), z.string()).nullish(),
  }),
  Description: z.looseObject({ Hostname: z.string().optional() }).optional(),
  Status: z.looseObject({ State: z.string(), Addr: z.string().optional() }),
  ManagerStatus: z
    .looseObject({ Leader: z.boolean().optional(), Reachability: z.string().optional(), Addr: z.string().optional() })
    .nullish(),
});

export const TOKEN_DIR = 'swarm_tokens';
export const TOKEN_FILES = ['manager_token', 'worker_token', 'join_addresses', 'advertise_addr'] as const;
export type TokenFile = (typeof TOKEN_FILES)[number];

/** What ~/swarm_tokens holds now, as digests (the tokens themselves never travel back). */
export interface TokenState {
  dirMode: string | null;
  files: Partial<Record<TokenFile, { mode: string; sha256: string }>>;
  leftovers: boolean; // temp files of an interrupted write
}

export interface RobotFacts {
  arch: string;
  cpus: number;
  memKb: number;
  hostname: string;
  engineId: string; // the Docker engine's ID: the same on robots cloned with their /etc/docker or /var/lib/docker
  /** The engine's version (docker info's ServerVersion); absent where docker did not answer. */
  engineVersion?: string;
  swarm: SwarmInfo | null;
  dockerError: string | null;
  tokens: TokenState;
}

export function factsCommand(useSudo: boolean): RemoteCommand {
  return dockerScript(script('facts'), [TOKEN_DIR, ...TOKEN_FILES], useSudo);
}

/** A joining robot's swarm state only: the full facts script, polled by 90 robots every 2 s, starved the 2-core lab. */
export function joinStateCommand(useSudo: boolean): RemoteCommand {
  return dockerScript(`dk info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}} {{.Swarm.Error}}'`, [], useSudo);
}

export function parseJoinState(stdout: string): { state: string; nodeId: string; error: string } {
  const [state = '', nodeId = '', ...error] = stdout.trim().split(' ');
  return { state, nodeId, error: error.join(' ') };
}

/** Whether this robot's engine answers as a swarm manager now (a promoted node takes a few seconds). */
export function managerStateCommand(useSudo: boolean): RemoteCommand {
  return dockerScript(`dk info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'`, [], useSudo);
}

export function parseManagerState(stdout: string): boolean {
  return /^active true$/.test(stdout.trim());
}

export function explainDockerError(raw: string, useSudo: boolean): string {
  if (/not installed/.test(raw)) return 'docker is not installed on this robot';
  if (/incorrect password|Sorry, try again/.test(raw))
    return 'sudo refused the password given with --ask-become-pass (PROVISION_BECOME_PASSWORD)';
  if (/sudo: a password is required|sudo: a terminal is required|no password was provided/.test(raw))
    return 'docker needs sudo here, and sudo asks for a password: run with --ask-become-pass (or PROVISION_BECOME_PASSWORD), allow passwordless sudo for docker, or add the user to the docker group and set sudo: false';
  if (/permission denied/i.test(raw))
    return `the user may not use docker (permission denied on the socket): add it to the docker group${useSudo ? '' : ', or set sudo: true for this robot'}`;
  if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(raw))
    return 'the Docker engine is not running on this robot (start dockerd, e.g. systemctl start docker)';
  return `docker info failed: ${raw.trim()}`;
}

export function parseFacts(stdout: string, useSudo: boolean): RobotFacts {
  const values = new Map<string, string>();
  const tokens: TokenState = { dirMode: null, files: {}, leftovers: false };
  for (const line of stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1));
    const file = /^token_file=(\S+) (\d+) ([0-9a-f]{64})$/.exec(line);
    if (file && (TOKEN_FILES as readonly string[]).includes(file[1] as string))
      tokens.files[file[1] as TokenFile] = { mode: file[2] as string, sha256: file[3] as string };
  }
  tokens.dirMode = values.get('tokens_dir') ?? null;
  tokens.leftovers = values.has('tokens_tmp');
  const dockerError = values.get('docker_error');
  const json = values.get('swarm');
  const swarm = json ? (parseJsonShaped('reading facts', "docker info's Swarm as JSON", json, SWARM_INFO) as SwarmInfo) : null;
  if (!values.has('arch')) throw unexpectedAnswer('reading facts', 'an "arch=" line', stdout);
  for (const key of ['cpus', 'memkb'])
    if (!/^\d*$/.test(values.get(key) ?? ''))
      throw unexpectedAnswer('reading facts', `a whole number after "${key}="`, values.get(key) ?? '');
  return {
    arch: values.get('arch') ?? '',
    cpus: Number(values.get('cpus')) || 0,
    memKb: Number(values.get('memkb')) || 0,
    hostname: values.get('hostname') ?? '',
    engineId: values.get('engine') ?? '',
    ...(values.has('version') ? { engineVersion: values.get('version') } : {}),
    swarm,
    dockerError: dockerError !== undefined ? explainDockerError(dockerError, useSudo) : null,
    tokens,
  };
}

export interface SwarmInitOptions {
  listenAddr?: string | undefined;
  availability?: 'active' | 'pause' | 'drain' | undefined;
  snapshotInterval?: number | undefined;
  maxSnapshots?: number | undefined;
}

export function swarmInitCommand(advertiseAddr: string, options: SwarmInitOptions, useSudo: boolean): RemoteCommand {
  const args = ['swarm', 'init', '--advertise-addr', advertiseAddr];
  if (options.listenAddr) args.push('--listen-addr', options.listenAddr);
  if (options.availability) args.push('--availability', options.availability);
  if (options.snapshotInterval !== undefined) args.push('--snapshot-interval', String(options.snapshotInterval));
  if (options.maxSnapshots !== undefined) args.push('--max-snapshots', String(options.maxSnapshots));
  return dockerCommand(args, useSudo);
}

/** Recover a swarm that lost quorum: this manager becomes the only one, keeping the swarm's state. */
export function forceNewClusterCommand(advertiseAddr: string, useSudo: boolean): RemoteCommand {
  return dockerCommand(['swarm', 'init', '--force-new-cluster', '--advertise-addr', advertiseAddr], useSudo);
}

/** Both join tokens, worker first. Secret output: never logged or printed. */
export function joinTokensCommand(useSudo: boolean): RemoteCommand {
  return dockerScript('dk swarm join-token -q worker && dk swarm join-token -q manager', [], useSudo);
}

/** `-q`: no instructions; the new token on stdout is discarded. */
export function rotateTokenCommand(role: 'worker' | 'manager', useSudo: boolean): RemoteCommand {
  return dockerScript('dk swarm join-token --rotate -q "$1" >/dev/null', [role], useSudo);
}

export interface NodeInfo {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  state: string; // ready | down | unknown …
  availability: string;
  addr: string;
  leader: boolean;
  reachability: string | null;
  labels: Record<string, string>;
}

const NODES_SCRIPT = `ids=$(dk node ls -q) && dk node inspect --format '{{json .}}' $ids`;

/** About 2.1 KB a node (Docker 20.10): room for some 8,000 nodes, where the default bound holds 490. */
export const NODES_OUTPUT_LIMIT = 16 * 1024 * 1024;

export function nodesCommand(useSudo: boolean): RemoteCommand {
  return { ...dockerScript(NODES_SCRIPT, [], useSudo), outputLimit: NODES_OUTPUT_LIMIT };
}

/** Between the node list and the join tokens in a manager read's output. */
const TOKENS_MARK = 'provision-tokens-begin';

/**
 * A manager's node list and join tokens in one command (up's opening sends it to every robot: on one
 * that is no manager it fails at `node ls`, a docker call, no round trip). The tokens only on stdout.
 */
export function managerReadCommand(useSudo: boolean): RemoteCommand {
  const tokens = 'dk swarm join-token -q worker && dk swarm join-token -q manager';
  return { ...dockerScript(`${NODES_SCRIPT} && echo ${TOKENS_MARK} && ${tokens}`, [], useSudo), outputLimit: NODES_OUTPUT_LIMIT };
}

/** managerReadCommand's answer; null when it is not one. */
export function parseManagerRead(stdout: string): { nodes: NodeInfo[]; tokens: string } | null {
  const at = stdout.indexOf(`${TOKENS_MARK}\n`);
  if (at < 0) return null;
  return { nodes: parseNodes(stdout.slice(0, at)), tokens: stdout.slice(at + TOKENS_MARK.length + 1) };
}

/** Between the facts and the node list in a watch read's output. */
const NODES_MARK = 'provision-nodes-begin';

/**
 * provision ui's one read per robot per refresh: the facts (status's read), and on the one manager
 * asked for it, the node list after them — in a single remote call.
 */
export function watchReadCommand(useSudo: boolean, withNodes: boolean): RemoteCommand {
  const nodes = withNodes ? `\necho ${NODES_MARK}\n${NODES_SCRIPT}` : '';
  const command = dockerScript(`(\n${script('facts')})${nodes}`, [TOKEN_DIR, ...TOKEN_FILES], useSudo);
  return withNodes ? { ...command, outputLimit: NODES_OUTPUT_LIMIT } : command;
}

export function parseWatchRead(stdout: string, useSudo: boolean): { facts: RobotFacts; nodes: NodeInfo[] | null } {
  const at = stdout.indexOf(`${NODES_MARK}\n`);
  if (at < 0) return { facts: parseFacts(stdout, useSudo), nodes: null };
  const facts = parseFacts(stdout.slice(0, at), useSudo);
  // None, or no answer we understand: this manager could not list them now (the robot itself answered).
  let nodes: NodeInfo[] = [];
  try {
    nodes = parseNodes(stdout.slice(at + NODES_MARK.length + 1));
  } catch {
    nodes = [];
  }
  return { facts, nodes: nodes.length ? nodes : null };
}

export function parseNodes(stdout: string): NodeInfo[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const n = parseJsonShaped('listing swarm nodes', 'docker node inspect as JSON, a node a line', l, NODE);
      return {
        id: n.ID,
        hostname: n.Description?.Hostname ?? '',
        role: n.Spec.Role,
        state: n.Status.State,
        availability: n.Spec.Availability,
        // Managers may report 0.0.0.0: their Raft address is reliable.
        addr: n.Status.Addr && n.Status.Addr !== '0.0.0.0' ? n.Status.Addr : ((n.ManagerStatus?.Addr ?? '').split(':')[0] ?? ''),
        leader: Boolean(n.ManagerStatus?.Leader),
        reachability: n.ManagerStatus?.Reachability ?? null,
        labels: n.Spec.Labels ?? {},
      };
    });
}

export function nodeRoleCommand(change: 'promote' | 'demote', nodeId: string, useSudo: boolean): RemoteCommand {
  return dockerCommand(['node', change, nodeId], useSudo);
}

export function labelAddCommand(
  nodeId: string,
  labels: Record<string, string>,
  useSudo: boolean,
  remove: readonly string[] = [],
): RemoteCommand {
  const args = ['node', 'update'];
  for (const [k, v] of Object.entries(labels)) args.push('--label-add', `${k}=${v}`);
  for (const k of remove) args.push('--label-rm', k);
  args.push(nodeId);
  return dockerCommand(args, useSudo);
}

const tokenScript = (name: string, dryRun: boolean) => remoteScript(name, [dryRun ? '1' : '0', TOKEN_DIR, ...TOKEN_FILES]);

export function syncTokensCommand(dryRun: boolean): string {
  return tokenScript('sync-tokens', dryRun);
}

/** Whether ~/swarm_tokens holds exactly `files`, with provision's modes: then nothing is sent. */
export function tokensInSync(state: TokenState, files: Partial<Record<TokenFile, string>>): boolean {
  if (state.dirMode !== '700' || state.leftovers) return false;
  const sha256 = (content: string) => createHash('sha256').update(content, 'utf8').digest('hex');
  const wanted = Object.entries(files) as [TokenFile, string][];
  const present = Object.keys(state.files);
  return (
    wanted.every(([name, content]) => state.files[name]?.mode === '600' && state.files[name]?.sha256 === sha256(content)) &&
    present.every((name) => name in files)
  );
}

/** syncTokensCommand's stdin: secret, never logged. */
export function tokenFilesPayload(files: Partial<Record<TokenFile, string>>): string {
  return Object.entries(files)
    .map(([name, content]) => `${name}\n${Buffer.from(content, 'utf8').toString('base64')}\n`)
    .join('');
}

/** join.sh: the token read from ~/swarm_tokens on the robot, sent to its engine in a request body (engine-join.sh). */
export function joinCommand(
  role: 'manager' | 'worker',
  advertiseAddr: string,
  managerAddrs: readonly string[],
  useSudo: boolean,
): RemoteCommand {
  return dockerScript(script('engine-join') + script('join'), [TOKEN_DIR, role, advertiseAddr, ...managerAddrs], useSudo);
}

export function nodeRemoveCommand(nodeId: string, useSudo: boolean): RemoteCommand {
  return dockerCommand(['node', 'rm', '--force', nodeId], useSudo);
}

export function removeTokensCommand(dryRun: boolean): string {
  return tokenScript('remove-tokens', dryRun);
}

export function leaveCommand(useSudo: boolean): RemoteCommand {
  return dockerCommand(['swarm', 'leave', '--force'], useSudo);
}

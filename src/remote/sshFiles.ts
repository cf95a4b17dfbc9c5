// The three files `provision keys` manages in every robot's ~/.ssh, merged by content. Pure.
import { splitManagedBlock, withManagedBlock } from './managedBlock.js';

export const ROBOT_KEY_FILE = '.ssh/id_ed25519';

export interface RobotKeyFacts {
  name: string;
  ip: string;
  port: number;
  user: string;
  /** The user's and sshd's keys, "ssh-ed25519 AAAA…"; null when the robot was not reached this run. */
  publicKey: string | null;
  hostKey: string | null;
  /** While its key is rotated: the old key, trusted next to the new one until every robot switched. */
  previousKey?: string | null;
}

/** This run's operator key, others to install (--operator-key) and to withdraw (--revoke-operator-key). */
export interface OperatorKeys {
  key: string;
  label: string;
  others?: readonly { key: string; label: string }[];
  /** "type blob" of keys (never the run's own: the CLI refuses that). */
  revoke?: readonly string[];
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/** The "type blob" part of a public key line (options and comment dropped), or null. */
export function keyOf(line: string): string | null {
  const fields = line.trim().split(/\s+/);
  const at = fields.findIndex((f) => KEY_TYPE.test(f));
  if (at < 0 || !fields[at + 1]) return null;
  return `${fields[at]} ${fields[at + 1]}`;
}

/** The keys of the user's own lines (outside the block): the block does not repeat them. */
export function keysOutside(before: string, after: string): Set<string> {
  const keys = new Set<string>();
  for (const line of (before + '\n' + after).split('\n')) {
    if (line.trim().startsWith('#')) continue;
    const key = keyOf(line);
    if (key) keys.add(key);
  }
  return keys;
}

const robotTag = (name: string) => `provision:robot:${name}`;
const OPERATOR_TAG = 'provision:operator:';

/**
 * Every robot's key and the operator's, unless the user has it outside the block. Robots not reached
 * keep their lines; a robot no longer in `robots` loses them: that is its revocation.
 */
export function mergeAuthorizedKeys(
  existing: string,
  robots: readonly RobotKeyFacts[],
  operator: OperatorKeys,
  keep: readonly string[] = [],
): string {
  const { before, block, after } = splitManagedBlock(existing);
  return withManagedBlock(existing, authorizedKeysBlock(block, keysOutside(before, after), robots, operator, keep), 'bottom');
}

/** mergeAuthorizedKeys' block lines, from the block there was and the keys of the user's own lines. */
export function authorizedKeysBlock(
  block: readonly string[] | null,
  userKeys: ReadonlySet<string>,
  robots: readonly RobotKeyFacts[],
  operator: OperatorKeys,
  keep: readonly string[] = [],
): string[] {
  const previous = block ?? [];
  const revoked = new Set(operator.revoke ?? []);
  const lines: string[] = [];
  // Sets and maps, not a scan of the lines per key: a fleet of N writes N files of N lines (1000 robots).
  const added = new Set<string | null>();
  const add = (key: string | null, tag: string) => {
    if (!key || userKeys.has(key) || revoked.has(key) || added.has(key)) return;
    const line = `${key} ${tag}`;
    lines.push(line);
    added.add(keyOf(line));
  };
  const previousByTag = new Map<string, string[]>();
  for (const l of previous) {
    const tag = l.slice(l.lastIndexOf(' ') + 1);
    previousByTag.set(tag, [...(previousByTag.get(tag) ?? []), l]);
  }
  for (const robot of robots) {
    const tag = robotTag(robot.name);
    // Every line it had: an interrupted rotation trusts two keys of one robot.
    const kept = (previousByTag.get(tag) ?? []).filter((l) => l.endsWith(' ' + tag)).map(keyOf);
    for (const key of robot.publicKey ? [robot.publicKey, robot.previousKey ?? null] : kept) add(key, tag);
  }
  // Lines of robots no longer in the inventory, kept unless --prune (plan/drift.ts).
  for (const line of keep) add(keyOf(line), line.slice(line.indexOf(' provision:robot:') + 1));
  // Other operators' keys (other laptops) stay, unless revoked.
  for (const line of previous.filter((l) => l.includes(' ' + OPERATOR_TAG))) {
    add(keyOf(line), line.slice(line.indexOf(OPERATOR_TAG)));
  }
  for (const other of operator.others ?? []) add(keyOf(other.key), OPERATOR_TAG + other.label);
  add(keyOf(operator.key), OPERATOR_TAG + operator.label);
  return lines;
}

/** The host patterns OpenSSH looks up: name and address, bracketed with a port other than 22. */
export function knownHostsNames(name: string, ip: string, port: number): string {
  return port === 22 ? `${name},${ip}` : `[${name}]:${port},[${ip}]:${port}`;
}

function firstHostOf(line: string): string {
  const hosts = line.split(/\s+/)[0] ?? '';
  return (hosts.split(',')[0] ?? '').replace(/^\[/, '').replace(/\]:\d+$/, '');
}

export function mergeKnownHosts(existing: string, robots: readonly RobotKeyFacts[], keep: readonly string[] = []): string {
  return withManagedBlock(existing, knownHostsBlock(splitManagedBlock(existing).block, robots, keep), 'bottom');
}

export function knownHostsBlock(block: readonly string[] | null, robots: readonly RobotKeyFacts[], keep: readonly string[] = []): string[] {
  const previous = block ?? [];
  const firstLineOf = new Map<string, string>(); // host -> its first line (a map: N robots, N lines)
  for (const l of previous) if (!firstLineOf.has(firstHostOf(l))) firstLineOf.set(firstHostOf(l), l);
  const lines: string[] = [];
  for (const robot of robots) {
    const names = knownHostsNames(robot.name, robot.ip, robot.port);
    const kept = firstLineOf.get(robot.name);
    const key = robot.hostKey || (kept ? keyOf(kept) : null);
    if (key) lines.push(`${names} ${key}`);
  }
  lines.push(...keep);
  return lines;
}

/** The block goes first, as ssh takes the first value it finds; it ends with `Host *` so user lines after it apply to every host. */
export function mergeSshConfig(
  existing: string,
  robots: readonly Pick<RobotKeyFacts, 'name' | 'ip' | 'port' | 'user'>[],
  identityFiles: readonly string[] = [ROBOT_KEY_FILE],
  keep: readonly string[] = [],
): string {
  return withManagedBlock(existing, sshConfigBlock(robots, identityFiles, keep), 'top');
}

export function sshConfigBlock(
  robots: readonly Pick<RobotKeyFacts, 'name' | 'ip' | 'port' | 'user'>[],
  identityFiles: readonly string[] = [ROBOT_KEY_FILE],
  keep: readonly string[] = [],
): string[] {
  const lines: string[] = [];
  for (const robot of robots) {
    lines.push(
      `Host ${robot.name}`,
      `    HostName ${robot.ip}`,
      `    User ${robot.user}`,
      `    Port ${robot.port}`,
      ...identityFiles.map((f) => `    IdentityFile ~/${f}`),
      `    IdentitiesOnly yes`,
    );
  }
  lines.push(...keep);
  if (lines.length) lines.push('Host *');
  return lines;
}

/** Where each file's block goes when it has none (config first: ssh takes the first value it finds). */
export const BLOCK_POSITION = { authorized_keys: 'bottom', known_hosts: 'bottom', config: 'top' } as const;

// Connect to every robot in parallel, one connection each, with a bounded number of handshakes
// in flight, a short connect timeout and host-key pinning against the operator's known_hosts.
import { execFileSync, spawnSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import type { Robot, SshHop } from '../inventory/schema.js';
import { authHandler, type OperatorIdentity } from './auth.js';
import { RobotConnection, tcpSocket } from './connection.js';
import { fingerprint, hostKeyVerdict, keyTypeOf, type KnownHostLine, type KnownHosts } from './knownHosts.js';
import { loginTarget, type LoginMemory } from './loginMemory.js';
import { log } from '../log.js';
import { retry } from '../run/retry.js';
import { Interrupted, interruption } from '../interrupt.js';

interface PoolOptions {
  identity: OperatorIdentity;
  knownHosts: KnownHosts;
  /** The key that last logged in to each host: offered first. */
  logins?: LoginMemory;
  /** --connect-timeout, which overrides each host's ConnectTimeout. */
  connectTimeoutMs?: number | undefined;
  maxHandshakes: number;
  /** Called as each robot settles (connected or not): the progress count. */
  onEach?: () => void;
}

export type Reach =
  | {
      ok: true;
      conn: RobotConnection;
      hostKey: string;
      /** A first-seen key: its fingerprint, and the file it was recorded in or why it was not. */
      newHostKey: { fingerprint: string; recorded: { file: string } | { not: string } } | null;
    }
  | { ok: false; status: 'unreachable' | 'failed' | 'interrupted'; reason: string };

const INTERRUPTED: Reach = { ok: false, status: 'interrupted', reason: 'not connected: the run was interrupted (Ctrl-C)' };

// The SSH handshake and login, after TCP connected: sshd delays each failed password by seconds.
const LOGIN_TIMEOUT_MS = 20_000;

const HANDSHAKE_RETRIES = 4;
const DEFAULT_CONNECT_TIMEOUT_S = 5;
const DEFAULT_KEEPALIVE_S = 10; // 3 unanswered = gone: a robot that vanishes mid-run is noticed within ~30 s

function connectTimeoutMs(to: Endpoint, options: PoolOptions): number {
  return options.connectTimeoutMs ?? (to.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_S) * 1000;
}

const HOST_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

/** `work` over `items`, at most `limit` at a time; the results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * `ip -o route get` lines by their destination: the first word, or the second after a route type
 * ("local 10.0.0.1 dev lo …"). Never another word: "src 10.88.0.1" names the source, not the route.
 */
export function routesByDestination(output: string): Map<string, string> {
  const routes = new Map<string, string>();
  for (const line of output.split('\n')) {
    const words = line.trim().split(/\s+/);
    const destination = /^[0-9a-fA-F:.]+$/.test(words[0] ?? '') ? words[0] : words[1];
    if (destination && !routes.has(destination)) routes.set(destination, line);
  }
  return routes;
}

/**
 * PROVISION_ROUTE_DEV=<dev> (set by the lab, the demo and the tests) refuses any robot whose route
 * does not leave through that interface, so a test never sends traffic elsewhere.
 */
class RouteGuard {
  private verdicts = new Map<string, string | null>();
  constructor(private readonly dev = process.env.PROVISION_ROUTE_DEV?.replace(/[^A-Za-z0-9_.-]/g, '')) {}

  private verdict(ip: string, route: string | undefined): string | null {
    if (route === undefined) return `refused: no route to ${ip} (PROVISION_ROUTE_DEV=${this.dev})`;
    return new RegExp(`\\bdev ${this.dev}\\b`).test(route)
      ? null
      : `refused: the route to ${ip} does not go via ${this.dev} (PROVISION_ROUTE_DEV)`;
  }

  /** One `ip -batch` for many addresses; one it did not answer is asked alone later. */
  prefetch(ips: readonly string[]): void {
    const ask = [...new Set(ips)].filter((ip) => !this.verdicts.has(ip) && /^[0-9a-fA-F:.]+$/.test(ip));
    if (!this.dev || !ask.length) return;
    const run = spawnSync('ip', ['-o', '-force', '-batch', '-'], {
      input: ask.map((ip) => `route get ${ip}\n`).join(''),
      encoding: 'utf8',
    });
    const routes = routesByDestination(run.stdout ?? '');
    for (const ip of ask) if (routes.has(ip)) this.verdicts.set(ip, this.verdict(ip, routes.get(ip)));
  }

  problem(ip: string): string | null {
    if (!this.dev) return null;
    if (!this.verdicts.has(ip)) {
      let route: string | undefined;
      try {
        route = execFileSync('ip', ['-o', 'route', 'get', ip], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        route = undefined;
      }
      this.verdicts.set(ip, this.verdict(ip, route));
    }
    return this.verdicts.get(ip) ?? null;
  }
}

/** A robot, or a jump host on the way to robots (the same fields). */
type Endpoint = SshHop;

const handshakeDropped = (e: Error & { code?: string }) =>
  e.code === 'ECONNRESET' || /closed during the handshake|Connection lost before handshake/i.test(e.message);

function describeConnectError(err: Error & { code?: string; level?: string }, to: Endpoint, timeoutMs: number, tried: string): Reach {
  const code = err.code ?? '';
  const message = err.message ?? String(err);
  const at = `${to.host}:${to.port}`;
  if (/Timed out while waiting for handshake/i.test(message)) {
    return {
      ok: false,
      status: 'failed',
      reason: `${at} accepted the connection but SSH login did not finish within ${LOGIN_TIMEOUT_MS / 1000} s`,
    };
  }
  if (code === 'ETIMEDOUT') {
    return {
      ok: false,
      status: 'unreachable',
      reason: message.startsWith('no answer from') ? message : `no answer from ${at} within ${timeoutMs / 1000} s`,
    };
  }
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN'].includes(code) || handshakeDropped(err)) {
    const jumpHostSaid = code === 'ECONNREFUSED' && message.includes('could not reach'); // see forwardTo
    return { ok: false, status: 'unreachable', reason: jumpHostSaid ? message : `${code || 'connection lost'} connecting to ${at}` };
  }
  if (err.level === 'client-authentication') {
    return {
      ok: false,
      status: 'failed',
      reason: `authentication as "${to.user}" failed (tried ${tried}): check the user, or give the password with --ask-pass or PROVISION_PASSWORD`,
    };
  }
  return { ok: false, status: 'failed', reason: message };
}

/** Why the presented host key is refused, if it is (OpenSSH's rules: see knownHosts.ts). */
export function hostKeyProblem(to: Endpoint, lines: readonly KnownHostLine[], key: Buffer, knownHosts: KnownHosts): string | null {
  const where = (l: KnownHostLine) => `${knownHosts.shown(l.file)}:${l.line}`;
  const verdict = hostKeyVerdict(lines, key);
  switch (verdict.kind) {
    case 'known':
      return null;
    case 'new': {
      if (to.strictHostKeyChecking !== 'yes') return null;
      const file = knownHosts.userFiles(to)[0];
      return `${to.name}'s host key ${fingerprint(key)} is not in ${file ? knownHosts.shown(file) : 'any known_hosts file'}, and ~/.ssh/config says StrictHostKeyChecking yes: add it first (e.g. ssh ${to.name} once), then run again`;
    }
    case 'revoked':
      return (
        `${to.name}'s host key ${fingerprint(key)} (${keyTypeOf(key)}) is marked @revoked at ${where(verdict.at)}: refused, nothing was run on it. ` +
        `A revoked key may be in someone else's hands: investigate before trusting ${to.name} again.`
      );
    case 'ca-only':
      return (
        `${to.name} is listed only through a CA (@cert-authority at ${where(verdict.at)}), and provision cannot check host certificates ` +
        `(its SSH library negotiates plain host keys only): nothing was run on it. Add ${to.name}'s host key (it presents ${fingerprint(key)}, ` +
        `${keyTypeOf(key)}) to known_hosts once you have checked it, then run again.`
      );
    case 'changed': {
      // ssh-keygen -R edits ~/.ssh/known_hosts unless told another file.
      const shown = knownHosts.shown(verdict.expected.file);
      const f = shown === '~/.ssh/known_hosts' ? '' : ` -f ${shown}`;
      const host = (h: string) => (to.port === 22 ? h : `'[${h}]:${to.port}'`); // -R takes [host]:port, not -p
      return (
        `host key of ${to.name} changed: known_hosts has ${fingerprint(verdict.expected.blob)}, it now presents ${fingerprint(key)} (${keyTypeOf(key)}); ` +
        `the old key is at ${where(verdict.expected)}. Nothing was run on it. If it was really reinstalled or re-keyed, remove the old key with ` +
        `\`ssh-keygen${f} -R ${host(to.name)} && ssh-keygen${f} -R ${host(to.host)}\` and run again; otherwise investigate.`
      );
    }
  }
}

/** Like OpenSSH: ask first for the key types already recorded for this host. */
function hostKeyTypesFor(lines: readonly KnownHostLine[]): string[] {
  const knownTypes = new Set(lines.filter((l) => !l.marker).map((k) => k.type));
  return [...HOST_KEY_TYPES.filter((t) => knownTypes.has(t)), ...HOST_KEY_TYPES.filter((t) => !knownTypes.has(t))];
}

const logHandshakeRetry = (name: string) => (err: unknown, n: number, ms: number) =>
  log(
    name,
    `handshake dropped (${(err as { code?: string }).code ?? (err as Error).message}); retry ${n} of ${HANDSHAKE_RETRIES} in ${ms} ms`,
  );

/** Log in to one endpoint, pinning its host key against known_hosts (by name and by address, like ssh). */
async function login(to: Endpoint, openSocket: () => Promise<Duplex>, options: PoolOptions): Promise<Reach> {
  const lines = options.knownHosts.linesFor(to.name, to.host, to.port, to);
  const serverHostKey = hostKeyTypesFor(lines);
  let presented: Buffer | null = null;
  let mismatch: string | null = null;
  const target = { ...to, username: to.user };
  const loginAs = loginTarget(to.user, to.host, to.port);
  const newAuth = () => authHandler(options.identity, target, options.logins?.get(loginAs));
  let auth = newAuth();

  const attempt = () => {
    auth = newAuth(); // each handshake starts its key order afresh
    return RobotConnection.open(
      target,
      {
        readyTimeout: LOGIN_TIMEOUT_MS,
        keepaliveInterval: (to.keepaliveSeconds ?? DEFAULT_KEEPALIVE_S) * 1000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: serverHostKey as never },
        authHandler: auth as never,
        hostVerifier: (key: Buffer) => {
          presented = key;
          mismatch = hostKeyProblem(to, lines, key, options.knownHosts);
          return mismatch === null;
        },
      },
      openSocket,
    );
  };

  // A handshake dropped by sshd (MaxStartups: too many unauthenticated connections at once) is retried
  // with backoff; a timeout is not (the robot is away).
  try {
    const conn = await retry(attempt, {
      attempts: HANDSHAKE_RETRIES + 1,
      baseMs: 300,
      jitter: 0.25,
      retryIf: (err) => !mismatch && handshakeDropped(err as Error & { code?: string }),
      onRetry: logHandshakeRetry(to.name),
    });
    const key = presented as Buffer | null;
    if (!key) throw new Error('no host key was presented');
    const isNew = hostKeyVerdict(lines, key).kind === 'new';
    const recorded = isNew ? options.knownHosts.remember(to.name, to.host, to.port, key, to) : null;
    options.logins?.remember(loginAs, auth.keyInUse());
    log(to.name, `connected to ${to.user}@${to.host}:${to.port} (host key ${fingerprint(key)})`);
    return {
      ok: true,
      conn,
      hostKey: `${keyTypeOf(key)} ${key.toString('base64')}`,
      newHostKey: recorded && { fingerprint: fingerprint(key), recorded },
    };
  } catch (err) {
    if (mismatch) return { ok: false, status: 'failed', reason: mismatch };
    if (err instanceof Interrupted) return INTERRUPTED;
    log(to.name, `connect failed: ${(err as Error).message}`);
    return describeConnectError(err as Error, to, connectTimeoutMs(to, options), auth.tried());
  }
}

/**
 * How endpoints are reached: directly (if the route guard lets the address through), or through ProxyJump
 * chains, each opened once per run and shared: 300 robots behind one gateway make one connection to it,
 * and a channel each through it.
 */
class Dialer {
  private chains = new Map<string, Promise<RobotConnection>>();
  readonly routes = new RouteGuard();
  constructor(private options: PoolOptions) {}

  /** A socket straight to host:port; the route is checked once, not per handshake retry. */
  direct(host: string, port: number, timeoutMs: number): () => Promise<Duplex> {
    const blocked = this.routes.problem(host);
    return async () => {
      if (blocked) throw new Error(blocked);
      return tcpSocket(host, port, timeoutMs);
    };
  }

  /** The connection to the last hop of `chain`, made through the hops before it. */
  through(chain: readonly SshHop[]): Promise<RobotConnection> {
    const key = chain.map((h) => `${h.user}@${h.host}:${h.port}`).join(',');
    let open = this.chains.get(key);
    if (!open) {
      const hop = chain.at(-1)!;
      open = (async () => {
        const before = chain.length > 1 ? await this.through(chain.slice(0, -1)) : null;
        const timeoutMs = connectTimeoutMs(hop, this.options);
        const socket = before ? () => before.forwardTo(hop.host, hop.port, timeoutMs) : this.direct(hop.host, hop.port, timeoutMs);
        const reach = await login(hop, socket, this.options);
        if (!reach.ok) throw new Error(`via jump host ${hop.name} (${hop.user}@${hop.host}:${hop.port}): ${reach.reason}`);
        return reach.conn;
      })();
      this.chains.set(key, open);
    }
    return open;
  }

  async closeAll(): Promise<void> {
    for (const open of this.chains.values()) (await open.catch(() => null))?.close();
  }
}

async function connectOne(robot: Robot, options: PoolOptions, dialer: Dialer): Promise<Reach> {
  const { jumps: chain = [], ...fromConfig } = robot.ssh ?? { identityFiles: [], identitiesOnly: false };
  const to: Endpoint = { ...fromConfig, name: robot.name, host: robot.ip, port: robot.port, user: robot.user };
  const timeoutMs = connectTimeoutMs(to, options);
  if (!chain.length) return login(to, dialer.direct(robot.ip, robot.port, timeoutMs), options);
  let jump: RobotConnection;
  try {
    jump = await dialer.through(chain);
  } catch (err) {
    return interruption.aborted ? INTERRUPTED : { ok: false, status: 'unreachable', reason: (err as Error).message };
  }
  return login(to, () => jump.forwardTo(robot.ip, robot.port, timeoutMs), options);
}

export interface Connections {
  reach: Map<string, Reach>;
  dialer: Dialer;
}

export async function connectAll(robots: readonly Robot[], options: PoolOptions): Promise<Connections> {
  const dialer = new Dialer(options);
  // The first hop of every robot: the robot itself, or its first jump host.
  dialer.routes.prefetch(robots.map((r) => r.ssh?.jumps[0]?.host ?? r.ip));
  const results = await mapLimit(robots, options.maxHandshakes, (robot) =>
    interruption.aborted ? Promise.resolve(INTERRUPTED) : connectOne(robot, options, dialer).finally(() => options.onEach?.()),
  );
  // Thrown here, it would leave every connection open (the process never ends) and fail the whole run.
  const unsaved = options.knownHosts.save();
  for (const r of results) {
    if (!r.ok || !r.newHostKey || !('file' in r.newHostKey.recorded)) continue;
    const { file } = r.newHostKey.recorded;
    const why = unsaved.get(file);
    if (why !== undefined) r.newHostKey.recorded = { not: `${file} could not be written: ${why}` };
  }
  options.logins?.save();
  return { reach: new Map(robots.map((r, i) => [r.name, results[i]!])), dialer };
}

export function closeAll({ reach, dialer }: Connections): void {
  for (const r of reach.values()) if (r.ok) r.conn.close();
  void dialer.closeAll();
}

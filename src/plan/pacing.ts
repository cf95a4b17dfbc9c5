// Pure pacing of joins over a slow fleet: how many joins may be in flight at once, and how long a
// join that docker continues "in the background" is waited for. Times are passed in.

/**
 * Joins in flight at the start. Small, because every join costs the managers a certificate
 * signing and Raft writes, and on an overloaded fleet (the 2-core lab at 100+ robots) hundreds at
 * once only made every join slower until they timed out together.
 */
export const JOIN_WINDOW_START = 4;
/** Never more at once: the default number of SSH handshakes in flight, a load the lab's managers took at 50 robots. */
export const JOIN_WINDOW_MAX = 32;

/**
 * Slow start: each join that succeeds lets one more start (the window doubles per round of joins),
 * up to the cap; a failed or timed-out join halves it (at least 1), so an overloaded set of
 * managers gets fewer joins at once instead of more timeouts.
 */
export function nextJoinWindow(window: number, joined: boolean): number {
  return joined ? Math.min(JOIN_WINDOW_MAX, window + 1) : Math.max(1, Math.floor(window / 2));
}

/**
 * A join still pending (or failed for a passing reason, below) is waited for as long as the swarm makes
 * progress: it fails only when the swarm has not progressed for this long (the joins are stuck, not
 * slow). Progress: a join of this run finished, or the managers' node list holds more nodes, or more
 * of them ready, than at the last look (swarmProgressed). 90 s cut off loaded fleets that still moved.
 */
export const PENDING_STALL_MS = 180_000;
/** ... or when it has waited this long in all (a bound on the whole run, whatever happens). */
export const PENDING_CAP_MS = 15 * 60_000;

export function pendingVerdict(
  now: number,
  since: number,
  lastFleetProgress: number,
  limits = { stallMs: PENDING_STALL_MS, capMs: PENDING_CAP_MS },
) {
  if (now - since >= limits.capMs) return 'too long';
  if (now - Math.max(since, lastFleetProgress) >= limits.stallMs) return 'stalled';
  return 'wait';
}

/** What the node list says of the swarm's size: progress is more nodes, or more of them ready. */
export interface SwarmCount {
  nodes: number;
  ready: number;
}

export function swarmCount(nodes: readonly { state: string }[]): SwarmCount {
  return { nodes: nodes.length, ready: nodes.filter((n) => n.state === 'ready').length };
}

/** Against the best seen so far (a node going down and up again is not progress). */
export function swarmProgressed(best: SwarmCount, now: SwarmCount): boolean {
  return now.nodes > best.nodes || now.ready > best.ready;
}

/**
 * A failed join, by docker's (or the SSH command's) message, the join script's whole stderr (one line
 * per manager it tried): `refused` fails the robot at once (a wrong token, a certificate that is not the
 * swarm's, a robot that cannot join as asked); `gone` fails it at once too: every manager it tried has
 * its swarm port closed (connection refused, no route: its docker stopped, the robot is down, or it is
 * no manager any more), which waiting does not mend; `passing` is a loaded or electing swarm, and the
 * join is tried again while the swarm progresses. Messages not known here are refusals: an error nobody
 * understood is reported, not retried for minutes.
 */
export function joinFailure(message: string): 'refused' | 'gone' | 'passing' {
  if (REFUSED.test(message)) return 'refused';
  const lines = message.split(/\n| \| /).filter((l) => l.trim());
  if (lines.some((l) => PASSING.test(l) && !MANAGER_GONE.test(l))) return 'passing';
  return lines.some((l) => MANAGER_GONE.test(l)) ? 'gone' : 'refused';
}

/**
 * The managers' addresses (host:port) a join's answer says are gone (see joinFailure): tried last by the
 * next join of the run, so that a stopped manager does not cost every join docker's dial time first.
 */
export function goneManagers(message: string): string[] {
  return [...message.matchAll(/dial tcp (\S+?): connect: (?:connection refused|no route to host)/gi)].map((m) => m[1] as string);
}

/** `addrs` in order, those in `gone` moved to the end (kept: a manager whose docker starts again answers). */
export function joinOrder(addrs: readonly string[], gone: ReadonlySet<string>): string[] {
  return [...addrs.filter((a) => !gone.has(a)), ...addrs.filter((a) => gone.has(a))];
}

// Docker's words (moby daemon/cluster, swarmkit ca and raft, grpc status codes).
const REFUSED =
  /join token|x509|unknown authority|does not match fingerprint|already part of a swarm|no ~\/swarm_tokens|holds a character|permission denied|sudo:/i;
// grpc's dial error when nothing listens on the manager's 2377 or the host is down; its code is Unavailable.
const MANAGER_GONE = /connect: (connection refused|no route to host)/i;
const PASSING = new RegExp(
  [
    'context deadline exceeded',
    'code = (DeadlineExceeded|Unavailable|Canceled)',
    'Timeout was reached before node joined', // the 503 when docker goes on in the background
    'does not have a leader',
    'no elected cluster leader',
    'lost leader status',
    'node is stopped',
    'remote command timed out', // the SSH command's own bound (src/ssh/connection.ts)
    'gave no answer to the join', // engine-join.sh: the engine closed the socket
    'i/o timeout',
    'connection reset by peer',
    'transport is closing',
  ].join('|'),
  'i',
);

/** Run `work` over `items` with the window above, widened and narrowed as results come in; `work` reports success. */
export async function runPaced<T>(items: readonly T[], work: (item: T) => Promise<boolean>, start = JOIN_WINDOW_START): Promise<void> {
  let window = Math.max(1, start);
  let next = 0;
  let inFlight = 0;
  await new Promise<void>((done) => {
    const launch = () => {
      if (next >= items.length && inFlight === 0) return done();
      while (inFlight < window && next < items.length) {
        inFlight++;
        void work(items[next++]!)
          .catch(() => false)
          .then((ok) => {
            inFlight--;
            window = nextJoinWindow(window, ok);
            launch();
          });
      }
    };
    launch();
  });
}

// A run lock on each robot, so two runs never work on one robot at once (both could `swarm init`).
// The run refreshes it every minute; one not refreshed for the stale limit belongs to a run that is
// gone and is taken over. Every change of the lock is a single rename on the robot (see lock.sh).
import { andThen, remoteScript, type RemoteCommand } from './shell.js';
import { unexpectedAnswer } from './answer.js';
import { redact } from '../log.js';

export const LOCK_DIR = '.provision-lock';
export const STALE_LOCK_SECONDS = 15 * 60;
/** How often a run refreshes its locks: a run is taken for gone only after 15 refreshes went missing. */
export const LOCK_REFRESH_SECONDS = 60;
/** lock.sh's exit code when this run did not get the lock. */
export const NOT_LOCKED = 10;

const lockScript = (action: 'take' | 'refresh' | 'release', runId: string, deadOwner = '') =>
  remoteScript('lock', [action, runId, String(STALE_LOCK_SECONDS), deadOwner, LOCK_DIR, String(NOT_LOCKED)]);

/** `then` runs in the same remote call, once the lock is ours. */
export function lockCommand(runId: string, deadOwner = '', then?: string | RemoteCommand): RemoteCommand {
  return andThen(lockScript('take', runId, deadOwner), then);
}

/** Renames this run's owner file to now, if it is still this run's: never revives a lock taken over. */
export function refreshCommand(runId: string): string {
  return lockScript('refresh', runId);
}

export function unlockCommand(runId: string): string {
  return lockScript('release', runId);
}

/** A run on this machine, as this user, whose process is gone: it will never release its lock. */
export function ownerIsDeadLocalRun(owner: string, me: { user: string; host: string }, isAlive: (pid: number) => boolean): boolean {
  const m = /^(.+)@(.+):(\d+):[0-9a-f]+$/.exec(owner);
  return Boolean(m && m[1] === me.user && m[2] === me.host && !isAlive(Number(m[3])));
}

/** A lock this run did not get: `owner` is another run's id; `foreign` text describes a lock not in provision's format. */
export type Held = { held: true; ageSeconds: number; owner: string } | { held: true; ageSeconds: number | null; foreign: string };

export type LockResult = ({ held: false; takenOverFrom: string | null; foreign?: string } | Held | { held: false; notLinux: string }) & {
  after: string;
}; // what the command run after the lock printed

const TAKE_ANSWERS = 'locked, taken-over, held, foreign, unusable or not-linux';

export function parseLock(stdout: string): LockResult {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith('provision-lock '));
  if (at < 0) throw unexpectedAnswer('taking the run lock', 'a "provision-lock" line', stdout);
  const line = (lines[at] as string).slice('provision-lock '.length);
  const after = lines.slice(at + 1).join('\n');
  const m = (re: RegExp) => re.exec(line);
  let r: RegExpExecArray | null;
  if (line === 'locked') return { held: false, takenOverFrom: null, after };
  if ((r = m(/^not-linux ?(.*)$/))) return { held: false, notLinux: r[1] || 'unknown', after };
  if ((r = m(/^taken-over ([A-Za-z0-9._@:-]+)$/))) return { held: false, takenOverFrom: r[1] as string, after };
  if ((r = m(/^taken-over-foreign (\d+) ?(.*)$/)))
    return { held: false, takenOverFrom: null, foreign: `${foreignText(r[2])}, unchanged for ${r[1]} s`, after };
  if ((r = m(/^held (\d+) (.+)$/))) return { held: true, ageSeconds: Number(r[1]), owner: r[2] as string, after };
  if ((r = m(/^foreign (\d+) ?(.*)$/))) return { held: true, ageSeconds: Number(r[1]), foreign: foreignText(r[2]), after };
  if ((r = m(/^unusable ?(.*)$/))) return { held: true, ageSeconds: null, foreign: foreignText(r[1]), after };
  throw unexpectedAnswer('taking the run lock', TAKE_ANSWERS, line);
}

/**
 * The take's answer as far as it came (stdout so far): 'ours' once its whole "provision-lock" line says
 * the lock is this run's (what follows is the command run after it), 'not ours' once it says otherwise,
 * null before that line is whole.
 */
export function lockAnswerSoFar(soFar: string): 'ours' | 'not ours' | null {
  const whole = soFar.slice(0, soFar.lastIndexOf('\n') + 1); // the last line may not have come whole yet
  if (!whole.split('\n').some((l) => l.startsWith('provision-lock '))) return null;
  try {
    const lock = parseLock(whole);
    return !lock.held && !('notLinux' in lock) ? 'ours' : 'not ours';
  } catch {
    return 'not ours';
  }
}

const foreignText = (shown = '') => `~/${LOCK_DIR} not in provision's format (it holds: ${redact(shown.trim()) || 'nothing readable'})`;

/** Why this run may not go on there, for the report. */
export function heldText(robot: string, lock: Held): string {
  if ('owner' in lock) return `${robot} (held by ${lock.owner} for ${lock.ageSeconds} s)`;
  if (lock.ageSeconds === null)
    return `${robot} (${lock.foreign}: provision never makes such a lock and will not guess; once no run works there, remove it: rm -r ~/${LOCK_DIR})`;
  return `${robot} (${lock.foreign}, changed ${lock.ageSeconds} s ago: taken over once unchanged for ${STALE_LOCK_SECONDS / 60} min)`;
}

export type RefreshResult = { refreshed: true } | { refreshed: false; holder: string };

/** null: not understood (a login shell that printed nothing this time, a dropped answer): try again next time. */
export function parseRefresh(stdout: string): RefreshResult | null {
  const line = stdout.split('\n').find((l) => l.startsWith('provision-lock ')) ?? '';
  if (line === 'provision-lock refreshed') return { refreshed: true };
  const lost = /^provision-lock lost (.*)$/.exec(line);
  return lost ? { refreshed: false, holder: redact(lost[1] as string) } : null;
}

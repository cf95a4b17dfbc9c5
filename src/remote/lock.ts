// A run lock on each robot, so two runs never work on one robot at once (both could `swarm init`).
// A lock older than the stale limit belongs to a crashed run and is taken over.
import { andThen, remoteScript, type RemoteCommand } from './shell.js';
import { unexpectedAnswer } from './answer.js';

export const LOCK_DIR = '.provision-lock';
export const STALE_LOCK_SECONDS = 15 * 60;
/** lock.sh's exit code when this run did not get the lock. */
export const NOT_LOCKED = 10;

/** `then` runs in the same remote call, once the lock is ours. */
export function lockCommand(runId: string, deadOwner = '', then?: string | RemoteCommand): RemoteCommand {
  return andThen(remoteScript('lock', [runId, String(STALE_LOCK_SECONDS), deadOwner, LOCK_DIR, String(NOT_LOCKED)]), then);
}

/** A run on this machine, as this user, whose process is gone: it will never release its lock. */
export function ownerIsDeadLocalRun(owner: string, me: { user: string; host: string }, isAlive: (pid: number) => boolean): boolean {
  const m = /^(.+)@(.+):(\d+):[0-9a-f]+$/.exec(owner);
  return Boolean(m && m[1] === me.user && m[2] === me.host && !isAlive(Number(m[3])));
}

export function unlockCommand(runId: string): string {
  return remoteScript('unlock', [runId, LOCK_DIR]);
}

export type LockResult = (
  { held: false; takenOverFrom: string | null } | { held: true; ageSeconds: number; owner: string } | { held: false; notLinux: string }
) & { after: string }; // what the command run after the lock printed

export function parseLock(stdout: string): LockResult {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith('provision-lock '));
  if (at < 0) throw unexpectedAnswer('taking the run lock', 'a "provision-lock" line', stdout);
  const line = (lines[at] as string).slice('provision-lock '.length);
  const after = lines.slice(at + 1).join('\n');
  if (line === 'locked') return { held: false, takenOverFrom: null, after };
  const other = /^not-linux ?(.*)$/.exec(line);
  if (other) return { held: false, notLinux: other[1] || 'unknown', after };
  const taken = /^taken-over ?(.*)$/.exec(line);
  if (taken) return { held: false, takenOverFrom: taken[1] || 'unknown', after };
  const held = /^held (\d+) ?(.*)$/.exec(line);
  if (held) return { held: true, ageSeconds: Number(held[1]), owner: held[2] || 'unknown', after };
  throw unexpectedAnswer('taking the run lock', 'locked, taken-over, held or not-linux', line);
}

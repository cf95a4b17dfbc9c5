// A run lock on each robot (~/.provision-lock), so two provision runs never work on the same robot
// at once (two runs could otherwise both `swarm init`). mkdir is atomic; a lock older than the stale
// limit belongs to a crashed run and is taken over.
import { scriptWithArgs } from './shell.js';

export const LOCK_DIR = '.provision-lock';
export const STALE_LOCK_SECONDS = 15 * 60;

// $1 = this run's id, $2 = seconds after which a lock is stale.
const LOCK = `
cd || exit 1
now=$(date +%s)
if mkdir ${LOCK_DIR} 2>/dev/null; then printf '%s %s\\n' "$now" "$1" > ${LOCK_DIR}/owner; echo locked; exit 0; fi
read -r since who < ${LOCK_DIR}/owner 2>/dev/null
if [ -z "$since" ] || [ $((now - since)) -gt "$2" ]; then printf '%s %s\\n' "$now" "$1" > ${LOCK_DIR}/owner; echo "taken-over $who"; exit 0; fi
echo "held $((now - since)) $who"
`;

const UNLOCK = `
cd || exit 1
read -r since who < ${LOCK_DIR}/owner 2>/dev/null
[ "$who" = "$1" ] && rm -rf ${LOCK_DIR}
exit 0
`;

export function lockCommand(runId: string): string {
  return scriptWithArgs(LOCK, [runId, String(STALE_LOCK_SECONDS)]);
}

export function unlockCommand(runId: string): string {
  return scriptWithArgs(UNLOCK, [runId]);
}

export type LockResult = { held: false; takenOverFrom: string | null } | { held: true; ageSeconds: number; owner: string };

export function parseLock(stdout: string): LockResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  if (line === 'locked') return { held: false, takenOverFrom: null };
  const taken = /^taken-over ?(.*)$/.exec(line);
  if (taken) return { held: false, takenOverFrom: taken[1] || 'unknown' };
  const held = /^held (\d+) ?(.*)$/.exec(line);
  if (held) return { held: true, ageSeconds: Number(held[1]), owner: held[2] || 'unknown' };
  throw new Error(`unexpected answer to the lock command: ${line}`);
}

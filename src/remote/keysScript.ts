// The one remote command of `provision keys`' first phase: make ~/.ssh, generate the robot's key
// pair on the robot if it has none (the private key never leaves it), and read back the files
// provision merges. Values arrive as positional parameters, never pasted into the script.
//
// Its answer, one fact per line:
//   state: ACTION…              mkdir, chmod, keygen, pubkey: done (or, in a dry run, needed)
//   uid:UID                     the login user's numeric uid
//   home:PATH                   the home directory's physical path (the rest of the line)
//   perm:PATH:MODE:OWNER        octal mode and owner uid of `.` (the home), `.ssh` and each
//                               `.ssh/FILE` managed that exists, after the fixes (StrictModes:
//                               see plan/strictModes.ts); a symlinked file: its target's
//   FILE:MODE:BASE64            id_ed25519.pub and each managed file: `FILE:-:` when absent,
//                               `FILE:!:WHAT` when it is not a regular file the user can read
import { commandLine, scriptWithArgs } from './shell.js';
import { unexpectedAnswer } from './answer.js';
import { ROBOT_KEY_FILE } from './sshFiles.js';
import type { PathFacts, StrictModesFacts } from '../plan/strictModes.js';

export const MANAGED_SSH_FILES = ['authorized_keys', 'known_hosts', 'config'] as const;
export type ManagedSshFile = (typeof MANAGED_SSH_FILES)[number];

const GATHER = `
umask 077
cd || exit 1
dry=$2
me=$(id -u)
state=
if [ ! -d .ssh ]; then [ "$dry" = 1 ] || mkdir .ssh || exit 1; state="$state mkdir"; fi
# ~/.ssh of another owner is not provision's to change (the verdict names it): no chmod, no key there
mine=1
# (stat -L: a ~/.ssh symlinked into a dotfiles repository is judged by the directory it points to)
if [ -d .ssh ] && [ "$(stat -L -c %u .ssh)" != "$me" ]; then mine=0; fi
if [ "$mine" = 1 ] && [ -d .ssh ] && [ "$(stat -L -c %a .ssh)" != 700 ]; then [ "$dry" = 1 ] || chmod 700 .ssh || exit 1; state="$state chmod"; fi
if [ "$mine" = 0 ]; then :
elif [ ! -f ${ROBOT_KEY_FILE} ]; then
  command -v ssh-keygen >/dev/null || { echo "ssh-keygen is not installed on this robot (package openssh-client)" >&2; exit 3; }
  [ "$dry" = 1 ] || ssh-keygen -q -t ed25519 -N '' -C "$1" -f ${ROBOT_KEY_FILE} </dev/null >/dev/null || exit 3
  state="$state keygen"
elif [ ! -f ${ROBOT_KEY_FILE}.pub ]; then
  [ "$dry" = 1 ] || ssh-keygen -y -f ${ROBOT_KEY_FILE} </dev/null > ${ROBOT_KEY_FILE}.pub || exit 3
  state="$state pubkey"
fi
[ "$dry" = 1 ] || [ "$mine" = 0 ] || rm -f .ssh/*.provision-tmp-* 2>/dev/null # left by an interrupted run; the real files are intact
echo "state:$state"
echo "uid:$me"
echo "home:$(pwd -P)"
for p in . .ssh ${MANAGED_SSH_FILES.map((f) => '.ssh/' + f).join(' ')}; do
  if [ -e "$p" ]; then printf 'perm:%s:%s\n' "$p" "$(stat -L -c %a:%u "$p")"; fi
done
for f in id_ed25519.pub ${MANAGED_SSH_FILES.join(' ')}; do
  if [ ! -e ".ssh/$f" ]; then echo "$f:-:"
  elif [ ! -f ".ssh/$f" ] || [ ! -r ".ssh/$f" ]; then printf '%s:!:%s\n' "$f" "$(stat -L -c '%F, owner %U, mode %a' ".ssh/$f")"
  else printf '%s:%s:' "$f" "$(stat -L -c %a ".ssh/$f")"; base64 -w0 ".ssh/$f"; echo; fi
done
`;

export function gatherSshCommand(keyComment: string, dryRun: boolean): string {
  return scriptWithArgs(GATHER, [keyComment, dryRun ? '1' : '0']);
}

export interface GatheredSsh {
  actions: string[]; // mkdir, chmod, keygen, pubkey: done (or, in a dry run, needed)
  publicKey: string | null;
  /** Each file's bytes as a latin1 string (one character per byte): merged and written back byte for byte, whatever the encoding (see fileBytes). */
  files: Record<ManagedSshFile, { content: string; mode: string | null }>;
  /** What sshd's StrictModes looks at, keyed `home`, `.ssh` or the managed file's name. */
  strict: StrictModesFacts;
}

/** The uid, home and perm lines (see the top of this file). */
export function parseStrictModes(lines: readonly string[]): StrictModesFacts {
  const uidLine = lines.find((l) => l.startsWith('uid:'));
  const homeLine = lines.find((l) => l.startsWith('home:'));
  const uid = Number(uidLine?.slice('uid:'.length));
  if (!uidLine || !homeLine || !Number.isInteger(uid))
    throw unexpectedAnswer('reading ~/.ssh', 'a "uid:" and a "home:" line', lines.join('\n'));
  const perms: Record<string, PathFacts> = {};
  for (const line of lines.filter((l) => l.startsWith('perm:'))) {
    const m = /^perm:([^:]+):([0-7]{3,4}):(\d+)$/.exec(line);
    if (!m) throw unexpectedAnswer('reading ~/.ssh', 'perm:PATH:MODE:OWNER', line);
    const path = m[1] as string;
    const key = path === '.' ? 'home' : path.replace(/^\.ssh\/(?=.)/, '');
    perms[key] = { mode: parseInt(m[2] as string, 8), owner: Number(m[3]) };
  }
  return { uid, home: homeLine.slice('home:'.length), perms };
}

// Its answer: "state: ACTIONS…", then one line per file: "NAME:MODE:BASE64" (a regular file it can
// read), "NAME:-:" (none) or "NAME:!:WHAT" (a directory, or a file the user cannot read).
/** The bytes to write for a merged file read by parseGatheredSsh (one byte per character). */
export function fileBytes(content: string): Buffer {
  return Buffer.from(content, 'latin1');
}

export function parseGatheredSsh(stdout: string): GatheredSsh {
  const lines = stdout.split('\n');
  const state = lines.find((l) => l.startsWith('state:'));
  if (state === undefined) throw unexpectedAnswer('reading ~/.ssh', 'a "state:" line', stdout);
  const read = (name: string) => {
    const line = lines.find((l) => l.startsWith(name + ':'));
    if (!line) throw unexpectedAnswer('reading ~/.ssh', `a line about ~/.ssh/${name}`, stdout);
    const [, mode, b64] = line.split(':');
    // Never merge into what cannot be read: the user's lines would be lost.
    if (mode === '!')
      throw new Error(
        `~/.ssh/${name} cannot be read or replaced by provision (${line.slice(name.length + 3)}): nothing was written; make it a regular file the login user can read`,
      );
    return mode === '-'
      ? { content: '', mode: null }
      : { content: Buffer.from(b64 ?? '', 'base64').toString('latin1'), mode: mode ?? null };
  };
  const pub = read('id_ed25519.pub');
  const files = Object.fromEntries(MANAGED_SSH_FILES.map((f) => [f, read(f)])) as GatheredSsh['files'];
  const keyLine = pub.content.trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    actions: state.slice('state:'.length).trim().split(/\s+/).filter(Boolean),
    publicKey: keyLine || null,
    files,
    strict: parseStrictModes(lines),
  };
}

/**
 * The mesh probe a robot runs after `provision keys`: log in to another robot by its Host alias from
 * the shared ~/.ssh/config, with the robot's own key, no prompt and the host key checked.
 * UpdateHostKeys=no: a check must not write; by default ssh would add the target's other host key
 * types to the user's known_hosts after the login.
 */
export function meshProbeCommand(target: string): string {
  return commandLine([
    'ssh',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'ConnectTimeout=5',
    target,
    'true',
  ]);
}

/** Why a probe failed: the last line ssh wrote on stderr (the caller redacts), else its exit code. */
export function probeFailureReason(result: { code: number; stderr: string }): string {
  const last = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  return last ?? `ssh exited with ${result.code} and said nothing`;
}

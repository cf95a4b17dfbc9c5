// The one remote command of `provision keys`' first phase: make ~/.ssh, generate the robot's key
// pair on the robot if it has none (the private key never leaves it), and read back the files
// provision merges. Values arrive as positional parameters, never pasted into the script.
import { scriptWithArgs } from './shell.js';
import { unexpectedAnswer } from './answer.js';
import { ROBOT_KEY_FILE } from './sshFiles.js';

export const MANAGED_SSH_FILES = ['authorized_keys', 'known_hosts', 'config'] as const;
export type ManagedSshFile = (typeof MANAGED_SSH_FILES)[number];

const GATHER = `
umask 077
cd || exit 1
dry=$2
state=
if [ ! -d .ssh ]; then [ "$dry" = 1 ] || mkdir .ssh || exit 1; state="$state mkdir"; fi
if [ -d .ssh ] && [ "$(stat -c %a .ssh)" != 700 ]; then [ "$dry" = 1 ] || chmod 700 .ssh || exit 1; state="$state chmod"; fi
if [ ! -f ${ROBOT_KEY_FILE} ]; then
  command -v ssh-keygen >/dev/null || { echo "ssh-keygen is not installed on this robot (package openssh-client)" >&2; exit 3; }
  [ "$dry" = 1 ] || ssh-keygen -q -t ed25519 -N '' -C "$1" -f ${ROBOT_KEY_FILE} </dev/null >/dev/null || exit 3
  state="$state keygen"
elif [ ! -f ${ROBOT_KEY_FILE}.pub ]; then
  [ "$dry" = 1 ] || ssh-keygen -y -f ${ROBOT_KEY_FILE} </dev/null > ${ROBOT_KEY_FILE}.pub || exit 3
  state="$state pubkey"
fi
[ "$dry" = 1 ] || rm -f .ssh/*.provision-tmp-* 2>/dev/null # left by an interrupted run; the real files are intact
echo "state:$state"
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
  files: Record<ManagedSshFile, { content: string; mode: string | null }>;
}

// Its answer: "state: ACTIONS…", then one line per file: "NAME:MODE:BASE64" (a regular file it can
// read), "NAME:-:" (none) or "NAME:!:WHAT" (a directory, or a file the user cannot read).
export function parseGatheredSsh(stdout: string): GatheredSsh {
  const lines = stdout.split('\n');
  const state = lines.find((l) => l.startsWith('state:'));
  if (state === undefined) throw unexpectedAnswer('reading ~/.ssh', 'a "state:" line', stdout);
  const read = (name: string) => {
    const line = lines.find((l) => l.startsWith(name + ':'));
    if (!line) throw unexpectedAnswer('reading ~/.ssh', `a line about ~/.ssh/${name}`, stdout);
    const [, mode, b64] = line.split(':');
    // Never merge into what cannot be read: the user's lines would be lost.
    if (mode === '!') throw new Error(`~/.ssh/${name} cannot be read or replaced by provision (${line.slice(name.length + 3)}): nothing was written; make it a regular file the login user can read`);
    return mode === '-' ? { content: '', mode: null } : { content: Buffer.from(b64 ?? '', 'base64').toString('utf8'), mode: mode ?? null };
  };
  const pub = read('id_ed25519.pub');
  const files = Object.fromEntries(MANAGED_SSH_FILES.map((f) => [f, read(f)])) as GatheredSsh['files'];
  const keyLine = pub.content.trim().split(/\s+/).slice(0, 2).join(' ');
  return { actions: state.slice('state:'.length).trim().split(/\s+/).filter(Boolean), publicKey: keyLine || null, files };
}

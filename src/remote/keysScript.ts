// The one remote command of `provision keys`' first phase: make ~/.ssh, generate the robot's key
// pair on the robot if it has none (the private key never leaves it), and read back the files
// provision merges. Values arrive as positional parameters, never pasted into the script.
import { scriptWithArgs } from './shell.js';
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
  if [ -f ".ssh/$f" ]; then printf '%s:%s:' "$f" "$(stat -c %a ".ssh/$f")"; base64 -w0 ".ssh/$f"; echo; else echo "$f:-:"; fi
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

export function parseGatheredSsh(stdout: string): GatheredSsh {
  const lines = stdout.split('\n');
  const state = lines.find((l) => l.startsWith('state:'));
  if (state === undefined) throw new Error('unexpected answer from the robot (no state line): is it a Linux host with a POSIX shell?');
  const read = (name: string) => {
    const line = lines.find((l) => l.startsWith(name + ':'));
    if (!line) throw new Error(`unexpected answer from the robot: nothing about ~/.ssh/${name}`);
    const [, mode, b64] = line.split(':');
    return mode === '-' ? { content: '', mode: null } : { content: Buffer.from(b64 ?? '', 'base64').toString('utf8'), mode: mode ?? null };
  };
  const pub = read('id_ed25519.pub');
  const files = Object.fromEntries(MANAGED_SSH_FILES.map((f) => [f, read(f)])) as GatheredSsh['files'];
  const keyLine = pub.content.trim().split(/\s+/).slice(0, 2).join(' ');
  return { actions: state.slice('state:'.length).trim().split(/\s+/).filter(Boolean), publicKey: keyLine || null, files };
}

// Pure builders for retiring a robot's node (`provision remove`) and for rotating robot keys
// (`provision rotate --keys`). Values travel as positional arguments (shell.ts), never in script text.
import { dockerCommand, dockerScript, scriptWithArgs, type RemoteCommand } from './shell.js';
import { ROBOT_KEY_FILE } from './sshFiles.js';

/** Stop scheduling on the node; its tasks are rescheduled elsewhere. */
export function drainCommand(nodeId: string, useSudo: boolean): RemoteCommand {
  return dockerCommand(['node', 'update', '--availability', 'drain', nodeId], useSudo);
}

/** The node's tasks that are still meant to run there: one ID a line (none once the drain is done). */
export function nodeTasksCommand(nodeId: string, useSudo: boolean): RemoteCommand {
  return dockerScript(`dk node ps "$1" --filter desired-state=running --format '{{.ID}}'`, [nodeId], useSudo);
}

/** Tasks still running on a draining node, from nodeTasksCommand's answer. */
export function parseTaskCount(stdout: string): number {
  return stdout.split('\n').filter((l) => /^[a-z0-9]{10,}$/.test(l.trim())).length;
}

/** Where the next key waits during a rotation: next to the robot's key, used by ssh only through the managed config. */
export const NEXT_KEY_FILE = `${ROBOT_KEY_FILE}.next`;

// A new key pair next to the current one ($1 = its comment); prints the new public key. A leftover
// from an interrupted rotation is replaced (ssh-keygen would stop to ask).
const NEW_KEY = `
umask 077
cd || exit 1
rm -f ${NEXT_KEY_FILE} ${NEXT_KEY_FILE}.pub
ssh-keygen -q -t ed25519 -N '' -C "$1" -f ${NEXT_KEY_FILE} </dev/null >/dev/null || exit 3
cat ${NEXT_KEY_FILE}.pub
`;

export function newKeyCommand(comment: string): string {
  return scriptWithArgs(NEW_KEY, [comment]);
}

// The next key becomes the robot's key. The .pub goes first, then the private key is renamed over
// (atomic), then the new .pub: a .pub that does not match its private key would fail ssh's login,
// so there is never one that does not match (without it ssh reads the public half from the key).
// Temp names match the keys step's clean-up of an interrupted run (.provision-tmp-).
const ADOPT_KEY = `
umask 077
cd || exit 1
[ -f ${NEXT_KEY_FILE} ] && [ -f ${NEXT_KEY_FILE}.pub ] || { echo "the new key ~/${NEXT_KEY_FILE} is missing" >&2; exit 3; }
cp ${NEXT_KEY_FILE} ${ROBOT_KEY_FILE}.provision-tmp-$$ && cp ${NEXT_KEY_FILE}.pub ${ROBOT_KEY_FILE}.pub.provision-tmp-$$ || exit 1
rm -f ${ROBOT_KEY_FILE}.pub
mv -f ${ROBOT_KEY_FILE}.provision-tmp-$$ ${ROBOT_KEY_FILE} && mv -f ${ROBOT_KEY_FILE}.pub.provision-tmp-$$ ${ROBOT_KEY_FILE}.pub
`;

export function adoptKeyCommand(): string {
  return scriptWithArgs(ADOPT_KEY);
}

export function dropNextKeyCommand(): string {
  return scriptWithArgs(`cd || exit 1\nrm -f ${NEXT_KEY_FILE} ${NEXT_KEY_FILE}.pub\n`);
}

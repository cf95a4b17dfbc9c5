// Pure builders for retiring a robot's node (`provision remove`) and for rotating robot keys
// (`provision rotate --keys`). Values travel as positional arguments (shell.ts), never in script text.
import { dockerCommand, dockerScript, remoteScript, type RemoteCommand } from './shell.js';
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

export function newKeyCommand(comment: string): string {
  return remoteScript('new-key', [comment, NEXT_KEY_FILE]);
}

export function adoptKeyCommand(): string {
  return remoteScript('adopt-key', [NEXT_KEY_FILE, ROBOT_KEY_FILE]);
}

export function dropNextKeyCommand(): string {
  return remoteScript('drop-next-key', [NEXT_KEY_FILE]);
}

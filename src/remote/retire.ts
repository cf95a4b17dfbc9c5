// Builders for `provision remove` (retiring a node) and `provision rotate --keys`.
import { dockerCommand, dockerScript, remoteScript, type RemoteCommand } from './shell.js';
import { ROBOT_KEY_FILE } from './sshFiles.js';

export function drainCommand(nodeId: string, useSudo: boolean): RemoteCommand {
  return dockerCommand(['node', 'update', '--availability', 'drain', nodeId], useSudo);
}

/** The node's tasks still meant to run there, an ID a line (none once drained). */
export function nodeTasksCommand(nodeId: string, useSudo: boolean): RemoteCommand {
  return dockerScript(`dk node ps "$1" --filter desired-state=running --format '{{.ID}}'`, [nodeId], useSudo);
}

export function parseTaskCount(stdout: string): number {
  return stdout.split('\n').filter((l) => /^[a-z0-9]{10,}$/.test(l.trim())).length;
}

/** The next key during a rotation; ssh uses it only through the managed config. */
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

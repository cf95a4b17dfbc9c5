// Writing a file on a robot through an exec channel, not SFTP: a login shell that prints a greeting
// corrupts the SFTP stream.
import { remoteScript } from './shell.js';

/** write-file.sh's answer once the file is in place (an exit status alone proves nothing). */
export const WRITTEN = 'provision-written';

export function writeFileCommand(path: string, mode: number, size: number): string {
  return remoteScript('write-file', [path, mode.toString(8), String(size), WRITTEN]);
}

// Writing a file on a robot through a plain exec channel (not SFTP: sftp-server is started by the
// login shell, and a shell that prints a greeting corrupts the SFTP stream).
import { remoteScript } from './shell.js';

/** What write-file.sh answers once the file is in place (nothing is claimed on a mere exit status). */
export const WRITTEN = 'provision-written';

export function writeFileCommand(path: string, mode: number, size: number): string {
  return remoteScript('write-file', [path, mode.toString(8), String(size), WRITTEN]);
}

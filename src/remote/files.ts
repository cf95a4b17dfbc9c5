// Writing files on a robot through an exec channel, not SFTP: a login shell that prints a greeting
// corrupts the SFTP stream. Several files go in one remote call (write-file.sh), each on its own.
import { Readable } from 'node:stream';
import { remoteScript } from './shell.js';

/** write-file.sh's answer, with the path, once a file is in place (an exit status alone proves nothing). */
export const WRITTEN = 'provision-written';

export interface FileToWrite {
  /** Relative to the home. */
  path: string;
  mode: number;
  /** Pieces: a part shared by many robots' files (one fleet block) is sent from the one Buffer, not copied per robot. */
  content: string | Buffer | readonly Buffer[];
}

const piecesOf = (f: FileToWrite): readonly Buffer[] =>
  typeof f.content === 'string' ? [Buffer.from(f.content, 'utf8')] : Buffer.isBuffer(f.content) ? [f.content] : f.content;
const sizeOf = (f: FileToWrite) => piecesOf(f).reduce((n, b) => n + b.length, 0);

/** The command for `files`; its stdin is writeFilesPayload(files). */
export function writeFilesCommand(files: readonly FileToWrite[]): string {
  return remoteScript('write-file', [WRITTEN, ...files.flatMap((f) => [f.path, f.mode.toString(8), String(sizeOf(f))])]);
}

export function writeFilesPayload(files: readonly FileToWrite[]): Buffer {
  return Buffer.concat(files.flatMap(piecesOf));
}

/** writeFilesPayload as a stream of the pieces themselves (no copy of the shared ones). */
export function writeFilesStream(files: readonly FileToWrite[]): Readable {
  return Readable.from(
    files.flatMap(piecesOf).filter((b) => b.length), // an empty chunk is no data: not pushed
    { objectMode: false },
  );
}

export function writeFileCommand(path: string, mode: number, size: number): string {
  return remoteScript('write-file', [WRITTEN, path, mode.toString(8), String(size)]);
}

/** The paths write-file.sh says are in place. */
export function parseWritten(stdout: string): Set<string> {
  const prefix = `${WRITTEN} `;
  return new Set(
    stdout
      .split('\n')
      .filter((l) => l.startsWith(prefix))
      .map((l) => l.slice(prefix.length)),
  );
}

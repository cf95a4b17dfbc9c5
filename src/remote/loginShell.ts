// Where a robot's login shell gets the text it prints on every session: its start-up files are
// sourced once more, each on its own in a fresh shell of that kind, and those that print are named.
// (sshd runs every command through the login shell, so these files run on every command anyway.)
import { remoteScript } from './shell.js';

export function findTalkersCommand(): string {
  return remoteScript('find-talkers');
}

export function parseTalkers(stdout: string): { shell: string; files: string[] } {
  const lines = stdout.split('\n');
  const shell = lines.find((l) => l.startsWith('shell='))?.slice('shell='.length) ?? '';
  return { shell, files: lines.filter((l) => l.startsWith('prints=')).map((l) => l.slice('prints='.length)) };
}

/** The note for a robot whose login shell prints on non-interactive sessions. */
export function talkativeShellNote(printed: string, found: { shell: string; files: string[] } | null): string {
  const sample = JSON.stringify(printed.trim().split('\n')[0]?.slice(0, 40) ?? '');
  const where = found?.files.length ? ` (from ${found.files.join(', ')})` : '';
  const shell = found?.shell ? `${found.shell} ` : '';
  return (
    `its login shell ${shell}prints on non-interactive sessions${where}, e.g. ${sample}: provision set that text aside, ` +
    'but scp, rsync and sftp to this robot may break — print only in interactive shells (bash: `[ -z "$PS1" ] && return` before the output)'
  );
}

// Which start-up files make a robot's login shell print on every session (find-talkers.sh re-sources
// each alone; sshd runs every command through the login shell, so they run on every command anyway).
import { remoteScript } from './shell.js';

export function findTalkersCommand(): string {
  return remoteScript('find-talkers');
}

export function parseTalkers(stdout: string): { shell: string; files: string[] } {
  const lines = stdout.split('\n');
  const shell = lines.find((l) => l.startsWith('shell='))?.slice('shell='.length) ?? '';
  return { shell, files: lines.filter((l) => l.startsWith('prints=')).map((l) => l.slice('prints='.length)) };
}

export function talkativeShellNote(printed: string, found: { shell: string; files: string[] } | null): string {
  const sample = JSON.stringify(printed.trim().split('\n')[0]?.slice(0, 40) ?? '');
  const where = found?.files.length ? ` (from ${found.files.join(', ')})` : '';
  const shell = found?.shell ? `${found.shell} ` : '';
  return (
    `its login shell ${shell}prints on non-interactive sessions${where}, e.g. ${sample}: provision set that text aside, ` +
    'but scp, rsync and sftp to this robot may break — print only in interactive shells (bash: `[ -z "$PS1" ] && return` before the output)'
  );
}

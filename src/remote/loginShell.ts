// Where a robot's login shell gets the text it prints on every session: its start-up files are
// sourced once more, each on its own in a fresh shell of that kind, and those that print are named.
// (sshd runs every command through the login shell, so these files run on every command anyway.)
import { scriptWithArgs } from './shell.js';

// Answer: "shell=PATH", then "prints=FILE" per start-up file that printed something.
const FIND_TALKERS = `
shell=$(getent passwd "$(id -un)" | cut -d: -f7)
echo "shell=$shell"
case \${shell##*/} in
  bash) files="/etc/bash.bashrc $HOME/.bashrc"; src() { bash --norc --noprofile -c '. "$1"' sh "$1"; } ;;
  zsh) files="/etc/zsh/zshenv /etc/zshenv $HOME/.zshenv"; src() { zsh -f -c '. "$1"' sh "$1"; } ;;
  fish) files="/etc/fish/config.fish $HOME/.config/fish/config.fish"; src() { fish --no-config -c 'source $argv[1]' "$1"; } ;;
  tcsh|csh) files="/etc/csh.cshrc $HOME/.tcshrc $HOME/.cshrc"; src() { tcsh -f -c 'source $argv[1]' "$1"; } ;;
  *) files= ;;
esac
for f in $files; do
  [ -r "$f" ] || continue
  out=$(src "$f" </dev/null 2>&1 | head -c 1)
  [ -n "$out" ] || continue
  case $f in "$HOME"/*) echo "prints=~/\${f#"$HOME"/}" ;; *) echo "prints=$f" ;; esac
done
exit 0
`;

export function findTalkersCommand(): string {
  return scriptWithArgs(FIND_TALKERS);
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

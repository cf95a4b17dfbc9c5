// Writing a file on a robot through a plain exec channel (not SFTP: sftp-server is started by the
// login shell, and a shell that prints a greeting corrupts the SFTP stream).
import { scriptWithArgs } from './shell.js';

// $1 = path relative to the home, $2 = octal mode, $3 = the content's size in bytes; the content
// comes on stdin. A connection that dies mid-write ends stdin early, and cat takes that as the end:
// the size check keeps such a prefix from replacing the file. It answers WRITTEN once the file is
// in place, so nothing is claimed on a mere exit status. The temp file sits
// beside the real one (same file system, so the rename is atomic) and is removed if anything fails,
// leaving the old file as it was. A symlink (a dotfiles repository) is written through: the file it
// points to is replaced, the link itself stays.
export const WRITTEN = 'provision-written';

const WRITE = `
WRITTEN=${WRITTEN}
cd || exit 1
home=$(pwd -P)
target=$1
if [ -L "$target" ]; then
  target=$(readlink -f -- "$1") || { echo "~/$1 is a symlink that does not resolve to a file" >&2; exit 1; }
  # a file outside the home (a shared or team file) is not this user's to replace
  case $target in "$home"/*) ;; *) echo "~/$1 is a symlink to $target, outside the home: provision does not replace it" >&2; exit 1 ;; esac
fi
tmp=$(mktemp -- "$target.provision-tmp-XXXXXX") || exit 1
if cat > "$tmp" && [ "$(wc -c < "$tmp")" -eq "$3" ] && chmod "$2" "$tmp" && mv -f -- "$tmp" "$target"; then echo "$WRITTEN"; exit 0; fi
rm -f -- "$tmp"
exit 1
`;

export function writeFileCommand(path: string, mode: number, size: number): string {
  return scriptWithArgs(WRITE, [path, mode.toString(8), String(size)]);
}

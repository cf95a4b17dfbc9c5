# Write ~/$1 (through a symlink), mode $2, $3 bytes from stdin, atomically; a cut-short stdin fails the
# size check. Output: the line $4 once the file is in place.
cd || exit 1
home=$(pwd -P)
target=$1
if [ -L "$target" ]; then
  target=$(readlink -f -- "$1") || { echo \~/"$1 is a symlink that does not resolve to a file" >&2; exit 1; }
  # a file outside the home (a shared or team file) is not this user's to replace
  case $target in "$home"/*) ;; *) echo \~/"$1 is a symlink to $target, outside the home: provision does not replace it" >&2; exit 1 ;; esac
fi
tmp=$(mktemp -- "$target.provision-tmp-XXXXXX") || exit 1
if cat > "$tmp" && [ "$(wc -c < "$tmp")" -eq "$3" ] && chmod "$2" "$tmp" && mv -f -- "$tmp" "$target"; then echo "$4"; exit 0; fi
rm -f -- "$tmp"
exit 1

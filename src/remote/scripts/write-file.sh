# Write ~/$1 (through symlinks that stay inside the home), mode $2, $3 bytes from stdin, atomically; a
# cut-short stdin fails the size check. Output: the line $4 once the file is in place.
cd || exit 1
# every folder on the way is checked, not only the file: a ~/.ssh linked out of the home is not ours to write in
in_home "$1" || exit 1
target=$1
if [ -L "$target" ]; then target=$(readlink -f -- "$1") || exit 1; fi
tmp=$(mktemp -- "$target.provision-tmp-XXXXXX") || exit 1
if cat > "$tmp" && [ "$(wc -c < "$tmp")" -eq "$3" ] && chmod "$2" "$tmp" && mv -f -- "$tmp" "$target"; then echo "$4"; exit 0; fi
rm -f -- "$tmp"
exit 1

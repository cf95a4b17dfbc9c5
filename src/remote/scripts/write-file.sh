# Write files under the home (through symlinks that stay inside it), each atomically: $1: the answer for a
# file in place; then three arguments per file: PATH (relative to the home), MODE, SIZE. stdin: the files'
# bytes one after the other, each read with `head -c SIZE` (coreutils' head reads no further); a
# cut-short stdin fails the size check. Output, a line per file: "$1 PATH" once it is in place, else
# "provision-not-written PATH" (why on stderr); exit 1 if any was not written.
cd || exit 1
answer=$1
shift
# put PATH MODE SIZE: its SIZE bytes of stdin are read whatever happens, so the next file gets its own.
put() {
  # every folder on the way is checked, not only the file: a ~/.ssh linked out of the home is not ours to write in
  target=$1 tmp=
  if in_home "$1"; then
    if [ -L "$target" ]; then target=$(readlink -f -- "$1") || target=; fi
    [ -z "$target" ] || tmp=$(mktemp -- "$target.provision-tmp-XXXXXX") || tmp=
  fi
  if [ -z "$tmp" ]; then head -c "$3" >/dev/null; return 1; fi
  if head -c "$3" > "$tmp" && [ "$(wc -c < "$tmp")" -eq "$3" ] && chmod "$2" "$tmp" && mv -f -- "$tmp" "$target"; then return 0; fi
  rm -f -- "$tmp"
  return 1
}
status=0
while [ $# -ge 3 ]; do
  if put "$1" "$2" "$3"; then echo "$answer $1"; else echo "provision-not-written $1"; status=1; fi
  shift 3
done
exit "$status"

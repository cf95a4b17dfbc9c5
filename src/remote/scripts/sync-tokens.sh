# ~/$2 gets exactly the files on stdin (NAME, BASE64 lines), each replaced atomically when it differs; other
# token files $3… are removed. $1: 1 for a dry run. Output: "changed:WHAT", "removed:NAME" lines.
umask 077
cd || exit 1
dry=$1 dir=$2
shift 2
in_home "$dir" || exit 1
[ -d "$dir" ] || { [ "$dry" = 1 ] || mkdir "$dir" || exit 1; echo "changed:directory"; }
[ ! -d "$dir" ] || [ "$(stat -c %a "$dir")" = 700 ] || { [ "$dry" = 1 ] || chmod 700 "$dir" || exit 1; echo "changed:directory mode"; }
[ "$dry" = 1 ] || rm -f "$dir"/*.tmp.* 2>/dev/null # left by an interrupted run; the real files are intact
wanted=" "
while read -r name && read -r data; do
  wanted="$wanted$name "
  f=$dir/$name
  if [ -f "$f" ] && [ "$(base64 -w0 "$f")" = "$data" ] && [ "$(stat -c %a "$f")" = 600 ]; then continue; fi
  echo "changed:$name"
  [ "$dry" = 1 ] && continue
  { printf '%s' "$data" | base64 -d > "$f.tmp.$$" && chmod 600 "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"; } || { rm -f "$f.tmp.$$"; exit 1; }
done
for f in "$@"; do
  case "$wanted" in *" $f "*) ;; *) if [ -f "$dir/$f" ]; then echo "removed:$f"; [ "$dry" = 1 ] || rm -f "$dir/$f"; fi;; esac
done

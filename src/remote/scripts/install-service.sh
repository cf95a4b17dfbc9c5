# Install the boot-time join: root files through `sudo -n`, replaced only when they differ. $1: 1 for a dry run;
# $2, $3: script and unit paths; $4: 1 to enable the unit; $5: the address for ~/$6/$7, or ''; $8: the unit.
# stdin: "script", BASE64, "unit", BASE64 lines. Output: "changed:script|unit|$7", "enabled", "no-systemd" lines.
dry=$1; script=$2; unit=$3; systemd=$4; adv=$5
cd || exit 1
if [ "$(id -u)" = 0 ]; then su=; else su="sudo -n"; fi
checked=
as_root() {
  if [ -n "$su" ] && [ -z "$checked" ]; then
    sudo -n true 2>/dev/null || { echo "installing the boot-time join needs root, and 'sudo -n' does not work for $(id -un): allow it passwordless sudo, or install as root" >&2; exit 4; }
    checked=1
  fi
  # shellcheck disable=SC2086 # $su is a command and its option, or nothing
  $su "$@" </dev/null
}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
unit_changed=0
while read -r name && read -r data; do
  case $name in
    script) dest=$script; mode=755 ;;
    unit) dest=$unit; mode=644 ;;
    *) echo "unexpected file '$name' on stdin" >&2; exit 1 ;;
  esac
  printf '%s' "$data" | base64 -d > "$tmp/$name" || exit 1
  if [ -f "$dest" ] && cmp -s "$tmp/$name" "$dest" && [ "$(stat -c %a:%u "$dest")" = "$mode:0" ]; then continue; fi
  echo "changed:$name"
  [ "$name" = unit ] && unit_changed=1
  [ "$dry" = 1 ] && continue
  { as_root mkdir -p "${dest%/*}" &&
    as_root install -m "$mode" -o 0 -g 0 "$tmp/$name" "$dest.provision-tmp" &&
    as_root mv -f "$dest.provision-tmp" "$dest"; } || { as_root rm -f "$dest.provision-tmp"; exit 1; }
done
if [ -n "$adv" ]; then
  f=$6/$7
  in_home "$f" || exit 1
  if [ "$(cat "$f" 2>/dev/null)" != "$adv" ] || [ "$(stat -c %a "$f")" != 600 ]; then
    echo "changed:$7"
    if [ "$dry" != 1 ]; then
      { (umask 077 && mkdir -p "$6") &&
        printf '%s\n' "$adv" > "$f.tmp.$$" && chmod 600 "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"; } || { rm -f "$f.tmp.$$"; exit 1; }
    fi
  fi
fi
[ "$systemd" = 1 ] || exit 0
if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then echo "no-systemd"; exit 0; fi
if [ "$unit_changed" = 1 ] && [ "$dry" != 1 ]; then as_root systemctl daemon-reload || exit 1; fi
if ! systemctl is-enabled --quiet "$8" 2>/dev/null; then
  echo "enabled"
  [ "$dry" = 1 ] || as_root systemctl enable --quiet "$8" || exit 1
fi

# Whether this robot has the check's image; with $2 = 1, pull it where it lacks it. $1: the image.
# stdin: as dk needs. Output: present | pulled | missing (then the pull's last words on stderr).
if dk image inspect "$1" >/dev/null 2>&1; then echo present; exit 0; fi
if [ "$2" = 1 ]; then
  if out=$(dk pull -q "$1" 2>&1); then echo pulled; exit 0; fi
  printf '%s\n' "$out" | tail -n 2 >&2
fi
echo missing

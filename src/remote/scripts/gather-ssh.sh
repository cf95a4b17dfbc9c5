# Make ~/.ssh and the robot's key pair if none (the private key never leaves the robot); read the files
# provision merges. $1: key comment; $2: 1 for a dry run; $3: 1 for the managed files in parts; $4: key file;
# $5…: managed files. No stdin. Output:
#   state: ACTION…         mkdir, chmod, keygen, pubkey: done (a dry run: needed)
#   uid:UID, home:PATH     the home's physical path
#   perm:PATH:MODE:OWNER   of ., .ssh and each managed file, after the fixes (of a symlink's target)
#   FILE:MODE:BASE64       the .pub and each managed file; FILE:-: absent; FILE:!:WHAT not readable
#   FILE:MODE:B64:SHA:B64  in parts: the lines before provision's block, the sha256 of the block's bytes
#                          (its marker lines included), the bytes after it; SHA "-" without a block (all in
#                          the first part): each robot's block holds a line per robot, the user's lines are few
umask 077
cd || exit 1
comment=$1 dry=$2 parts=$3 key=$4
shift 4
# in_parts FILE: the block as src/remote/managedBlock.ts finds it: the first line starting "# BEGIN provision"
# to the next "# END provision" (a CR allowed); head/tail keep the bytes, a missing last newline too.
# It reads a snapshot (one read of the file): a file rewritten meanwhile (ssh-keygen -R) cannot give parts
# that do not fit together.
in_parts() {
  if snap=$(mktemp 2>/dev/null) && cat "$1" > "$snap"; then parts_of "$snap"; rm -f "$snap"
  else rm -f "$snap" 2>/dev/null; parts_of "$1"; fi
}
parts_of() {
  at=$(LC_ALL=C awk '!b && /^# BEGIN provision/ { b = NR; next } b && ($0 == "# END provision" || $0 == "# END provision\r") { print b, NR; exit }' "$1")
  if [ -z "$at" ]; then base64 -w0 "$1"; echo ':-:'; return; fi
  b=${at% *} e=${at#* }
  head -n "$((b - 1))" "$1" | base64 -w0
  printf ':%s:' "$(tail -n "+$b" "$1" | head -n "$((e - b + 1))" | sha256sum | cut -c1-64)"
  tail -n "+$((e + 1))" "$1" | base64 -w0
  echo
}
# ~/.ssh or the key linked out of the home: refused before anything is made or changed there
for p in .ssh "$key" "$key.pub"; do in_home "$p" || exit 1; done
me=$(id -u)
state=
if [ ! -d .ssh ]; then [ "$dry" = 1 ] || mkdir .ssh || exit 1; state="$state mkdir"; fi
# ~/.ssh of another owner is not provision's to change; stat -L: a symlinked ~/.ssh is judged by its target
mine=1
if [ -d .ssh ] && [ "$(stat -L -c %u .ssh)" != "$me" ]; then mine=0; fi
if [ "$mine" = 1 ] && [ -d .ssh ] && [ "$(stat -L -c %a .ssh)" != 700 ]; then [ "$dry" = 1 ] || chmod 700 .ssh || exit 1; state="$state chmod"; fi
if [ "$mine" = 0 ]; then :
elif [ ! -f "$key" ]; then
  command -v ssh-keygen >/dev/null || { echo "ssh-keygen is not installed on this robot (package openssh-client)" >&2; exit 3; }
  [ "$dry" = 1 ] || ssh-keygen -q -t ed25519 -N '' -C "$comment" -f "$key" </dev/null >/dev/null || exit 3
  state="$state keygen"
elif [ ! -f "$key.pub" ]; then
  [ "$dry" = 1 ] || ssh-keygen -y -f "$key" </dev/null > "$key.pub" || exit 3
  state="$state pubkey"
fi
[ "$dry" = 1 ] || [ "$mine" = 0 ] || rm -f .ssh/*.provision-tmp-* 2>/dev/null # left by an interrupted run; the real files are intact
echo "state:$state"
echo "uid:$me"
echo "home:$(pwd -P)"
for p in . .ssh "$@"; do
  case $p in .*) ;; *) p=.ssh/$p ;; esac
  if [ -e "$p" ]; then printf 'perm:%s:%s\n' "$p" "$(stat -L -c %a:%u "$p")"; fi
done
for f in "${key#.ssh/}.pub" "$@"; do
  if [ ! -e ".ssh/$f" ]; then echo "$f:-:"
  elif [ ! -f ".ssh/$f" ] || [ ! -r ".ssh/$f" ]; then printf '%s:!:%s\n' "$f" "$(stat -L -c '%F, owner %U, mode %a' ".ssh/$f")"
  else
    printf '%s:%s:' "$f" "$(stat -L -c %a ".ssh/$f")"
    if [ "$parts" = 1 ] && [ "$f" != "${key#.ssh/}.pub" ]; then in_parts ".ssh/$f"; else base64 -w0 ".ssh/$f"; echo; fi
  fi
done

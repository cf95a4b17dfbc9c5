# The run lock ~/$5 for run $2. $1: take | refresh | release. $3: stale limit (s), $4: a dead run whose lock
# is taken over at once, $6: exit code when not locked. No stdin.
# The lock is a directory holding one empty file owner.TIME.RUN (TIME: the robot's `date +%s` when taken
# or last refreshed). Every change is one rename of one name, so of all runs racing for one state
# exactly one wins: the lock appears with its owner already inside (a private directory renamed into
# place; that rename fails once the lock holds a file), and a takeover or a refresh renames the very
# file it judged. Names are data: matched by pattern, never evaluated.
# take:    "provision-lock locked | taken-over RUN | taken-over-foreign AGE SHOWN | held AGE RUN |
#           foreign AGE SHOWN | unusable SHOWN | not-linux OS"
# refresh: "provision-lock refreshed | lost HOLDER";  release: no output.
cd || exit 1
me=$2 lock=$5 stale=$3 dead=$4
now=$(date +%s)
case $now in '' | *[!0-9]*) echo "provision-lock unusable the robot's clock: date +%s printed $now" | tr -c '[:print:]\n' '?'; exit "${6:-1}" ;; esac

# Sets kind (none | mine | valid | foreign | unusable), entry, t and who from what ~/$lock holds.
inspect() {
  kind=unusable entry='' t='' who=''
  if [ ! -e "$lock" ] && [ ! -L "$lock" ]; then kind=none; return; fi
  if [ -L "$lock" ] || [ ! -d "$lock" ]; then return; fi
  n=0
  for p in "$lock"/* "$lock"/.[!.]* "$lock"/..?*; do
    if [ -e "$p" ] || [ -L "$p" ]; then n=$((n + 1)) entry=${p##*/}; fi
  done
  [ "$n" = 0 ] && kind=none
  [ "$n" = 1 ] && [ -f "$lock/$entry" ] && [ ! -L "$lock/$entry" ] || return
  kind=foreign
  rest=${entry#owner.}
  [ "$rest" != "$entry" ] || return
  t=${rest%%.*} who=${rest#*.}
  case $t in '' | 0* | *[!0-9]*) return ;; esac
  case $who in '' | *[!A-Za-z0-9._@:-]*) return ;; esac
  [ ${#t} -le 12 ] && [ ${#who} -le 200 ] || return
  kind=valid
  [ "$who" = "$me" ] && kind=mine
}

# What ~/$lock holds, for the operator: names and a regular file's first bytes, printable, 300 bytes at most.
shown() {
  if [ -L "$lock" ] || [ ! -d "$lock" ]; then
    printf 'not a directory: %s' "$(ls -ld "$lock" 2>&1)"
  else
    for p in "$lock"/* "$lock"/.[!.]* "$lock"/..?*; do
      if [ -f "$p" ] && [ ! -L "$p" ]; then printf '%s="%s" ' "${p##*/}" "$(head -c 80 "$p")"
      elif [ -e "$p" ] || [ -L "$p" ]; then printf '%s(not a regular file) ' "${p##*/}"; fi
    done
  fi | head -c 300 | LC_ALL=C tr -c '[:print:]' '?'
}

if [ "$1" = release ]; then
  # The name, not the path: a run that took the lock over meanwhile keeps it; rmdir leaves a lock taken since.
  # Looked at again while still this run's: its own refresh, still on its way, may have renamed it meanwhile.
  for _ in 1 2 3; do
    inspect
    [ "$kind" = mine ] || break
    rm -f "$lock/$entry" && rmdir "$lock" 2>/dev/null && break
  done
  exit 0
fi

if [ "$1" = refresh ]; then
  inspect
  if [ "$kind" = mine ]; then
    # Fails if another run renamed this name away (took the lock over) since: the lock is not revived.
    if [ "$entry" = "owner.$now.$me" ] || mv "$lock/$entry" "$lock/owner.$now.$me" 2>/dev/null; then
      echo "provision-lock refreshed"
      exit 0
    fi
    inspect
  fi
  case $kind in valid) echo "provision-lock lost $who" ;; none) echo "provision-lock lost nobody" ;; *) echo "provision-lock lost $(shown)" ;; esac
  exit 0
fi

os=$(uname -s)
[ "$os" = Linux ] || { echo "provision-lock not-linux $os"; exit "$6"; }
tmp=$lock.new.$$
for _ in 1 2 3 4 5; do
  # A free lock: absent, or the empty directory of a release under way (a rename replaces it).
  rm -rf "$tmp"
  if ! err=$({ mkdir "$tmp" && : >"$tmp/owner.$now.$me"; } 2>&1); then
    rm -rf "$tmp"
    echo "provision-lock unusable $err" | tr -c '[:print:]\n' '?'
    exit "$6"
  fi
  if moved=$(mv -T "$tmp" "$lock" 2>&1); then
    echo "provision-lock locked"
    exit 0
  fi
  rm -rf "$tmp"
  inspect
  case $kind in
    none) continue ;;
    mine) echo "provision-lock locked"; exit 0 ;;
    valid)
      age=$((now - t)) && [ "$age" -ge 0 ] || age=0
      if [ "$age" -le "$stale" ] && { [ -z "$dead" ] || [ "$who" != "$dead" ]; }; then
        echo "provision-lock held $age $who"
        exit "$6"
      fi
      if mv "$lock/$entry" "$lock/owner.$now.$me" 2>/dev/null; then
        echo "provision-lock taken-over $who"
        exit 0
      fi
      ;;
    foreign)
      # Not made by provision (by hand, another tool, an older provision): its age is the file's.
      changed=$(stat -c %Y "$lock/$entry" 2>/dev/null) || continue
      case $changed in '' | *[!0-9]*) continue ;; esac
      age=$((now - changed)) && [ "$age" -ge 0 ] || age=0
      what=$(shown)
      if [ "$age" -le "$stale" ]; then
        echo "provision-lock foreign $age $what"
        exit "$6"
      fi
      if mv "$lock/$entry" "$lock/owner.$now.$me" 2>/dev/null; then
        echo "provision-lock taken-over-foreign $age $what"
        exit 0
      fi
      ;;
    *)
      echo "provision-lock unusable $(shown)"
      exit "$6"
      ;;
  esac
done
# Free at every look yet never taken: this robot's mv cannot rename a directory onto an empty one (no -T?).
if [ "$kind" = none ]; then
  echo "provision-lock unusable mv -T \"$tmp\" \"$lock\" fails on this robot: $moved" | head -c 400 | tr -c '[:print:]\n' '?'
  exit "$6"
fi
# The lock changed hands at every look: another run is taking it right now.
echo "provision-lock held 0 another run taking the lock right now"
exit "$6"

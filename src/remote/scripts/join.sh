# Join with the token ~/$1/$2_token ($2: worker or manager); $3: the advertise address; $4…: manager
# addresses, in order. engine_join (engine-join.sh, sent before this) does the join: the token stays out of
# every argv. No stdin but dk's. Output: "node=ID", or "pending ADDR" (the join goes on in the background,
# through manager ADDR only: docker knows no other).
cd || exit 1
dir=$1 role=$2 addr=$3
shift 3
tok=$(cat "$dir/${role}_token") || { echo "no ~/$dir/${role}_token on this robot" >&2; exit 3; }
for m in "$@"; do
  if engine_join "$tok" "$addr" "$m"; then
    echo "node=$(dk info --format '{{.Swarm.NodeID}}')"; exit 0
  fi
  # A join that timed out goes on in the background: it may be done (active) or still pending.
  case $(dk info --format '{{.Swarm.LocalNodeState}}') in
    active) echo "node=$(dk info --format '{{.Swarm.NodeID}}')"; exit 0 ;;
    pending) echo "pending $m"; exit 0 ;;
  esac
done
exit 1

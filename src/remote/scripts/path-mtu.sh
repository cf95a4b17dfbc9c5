# The path MTU from this robot to each peer over the underlay: 1500, else the largest of a ladder that
# passes with fragmenting forbidden (ping -M 'do'), all rungs at once. $@: peer addresses. No stdin.
# Output (parsePathMtus): "pmtu=PEER SIZE" lines, SIZE 0 when nothing passed; "ping_df=no" alone when
# this robot's ping cannot forbid fragmenting (nothing measured).
# Two pings a size: one lost packet on a lossy mesh must not lower the fleet's MTU.
passes() { ping -M 'do' -c 2 -i 0.2 -W 1 -s $(($2 - 28)) "$1" >/dev/null 2>&1; }
probe() {
  if passes "$1" 1500; then echo "pmtu=$1 1500"; return; fi
  t=$(mktemp -d) || exit 1
  for m in 1480 1450 1420 1400 1380 1350 1300 1280; do
    (passes "$1" "$m" && : > "$t/$m") &
  done
  wait
  best=0
  for m in 1480 1450 1420 1400 1380 1350 1300 1280; do
    if [ -e "$t/$m" ]; then best=$m; break; fi
  done
  rm -rf "$t"
  echo "pmtu=$1 $best"
}
ping -M 'do' -c 1 -W 1 -s 56 127.0.0.1 >/dev/null 2>&1 || { echo ping_df=no; exit 0; }
for p in "$@"; do probe "$p" & done
wait

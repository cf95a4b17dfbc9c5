# From this robot's task: a small file and a 64 KiB one from each peer's task over the overlay (full-size
# TCP segments), and the swarm's DNS for tasks.SERVICE. $1: the service; $2: the tasks DNS should name;
# $3…: peer task addresses. stdin: as dk needs. Output: "pair ADDR SMALL_BYTES BIG_BYTES" per peer,
# "dns N" (addresses tasks.SERVICE resolved to), "skip TOOL" where the image lacks a tool.
cid=$(dk ps -q --filter "label=com.docker.swarm.service.name=$1" | head -n 1)
[ -n "$cid" ] || { echo "no task of $1 runs here" >&2; exit 1; }
# busybox 1.35's wget -T crashes: timeout bounds each fetch instead. The script runs in the container:
# shellcheck disable=SC2016
inner='svc=$1; want=$2; shift 2
if command -v wget >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
  for p in "$@"; do
    ( s=$(timeout 5 wget -q -O - "http://$p:8080/small" 2>/dev/null | wc -c)
      b=$(timeout 10 wget -q -O - "http://$p:8080/big" 2>/dev/null | wc -c)
      echo "pair $p $s $b" ) &
  done
else echo "skip wget"; fi
if command -v nslookup >/dev/null 2>&1; then
  i=0; n=0
  while [ "$i" -lt 10 ]; do
    n=$(nslookup "tasks.$svc" 2>/dev/null | awk "/^Name:/ {on = 1; next} on && /^Address/ {c++} END {print c + 0}")
    [ "$n" -ge "$want" ] && break
    i=$((i + 1)); sleep 1
  done
  echo "dns $n"
else echo "skip nslookup"; fi
wait'
dk exec "$cid" sh -c "$inner" sh "$@"

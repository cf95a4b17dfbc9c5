# This robot's task of the check's global service: its address on the check's network and the tools
# its image has. $1: the service; $2: the network. stdin: as dk needs. Output: "none" (no running task
# here), else "ip=ADDR", "mtu=N" (of its interface on that network) and one "tool=NAME" line for each
# of wget, nslookup, timeout, httpd it has.
cid=$(dk ps -q --filter "label=com.docker.swarm.service.name=$1" | head -n 1)
[ -n "$cid" ] || { echo none; exit 0; }
ip=$(dk inspect --format "{{with index .NetworkSettings.Networks \"$2\"}}{{.IPAddress}}{{end}}" "$cid")
echo "ip=$ip"
# shellcheck disable=SC2016 # runs in the container
dk exec "$cid" sh -c '
for t in wget nslookup timeout httpd; do command -v "$t" >/dev/null 2>&1 && echo "tool=$t"; done
for i in /sys/class/net/*; do
  ip -o -4 addr show dev "${i##*/}" 2>/dev/null | grep -q " $1/" && echo "mtu=$(cat "$i/mtu")"
done; true' sh "$ip"

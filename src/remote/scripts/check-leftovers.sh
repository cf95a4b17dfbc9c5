# What of provision check is still on this robot: its containers and networks; waits up to 20 s for the
# engine to remove them after their service went. stdin: as dk needs. Output: "left CONTAINERS NETWORKS".
i=0
while :; do
  c=$(dk ps -aq --filter label=provision.check | grep -c .)
  n=$(dk network ls -q --filter name=provision-check- | grep -c .)
  if [ "$c" -eq 0 ] && [ "$n" -eq 0 ] || [ "$i" -ge 40 ]; then break; fi
  i=$((i + 1)); sleep 0.5
done
echo "left $c $n"

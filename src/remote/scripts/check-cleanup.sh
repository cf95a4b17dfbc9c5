# Remove what provision check created (services, then networks, labelled provision.check), also an
# interrupted run's. stdin: as dk needs. Output: "removed SERVICES NETWORKS" (counts); networks still
# held by a task (it takes the engine seconds to let go) are tried again for up to 20 s.
svc=$(dk service ls -q --filter label=provision.check)
# shellcheck disable=SC2086 # IDs, one a word
[ -z "$svc" ] || dk service rm $svc >/dev/null
nets=$(dk network ls -q --filter label=provision.check)
count=$(printf '%s\n' "$nets" | grep -c .)
i=0
while [ -n "$nets" ] && [ "$i" -lt 40 ]; do
  # shellcheck disable=SC2086
  dk network rm $nets >/dev/null 2>&1
  nets=$(dk network ls -q --filter label=provision.check)
  [ -z "$nets" ] || sleep 0.5
  i=$((i + 1))
done
[ -z "$nets" ] || { echo "networks still in use after 20 s: $nets" >&2; exit 1; }
echo "removed $(printf '%s\n' "$svc" | grep -c .) $count"

# The preflight's own readings of a robot, read-only; the clock first (the exec's round trip bounds its error).
# $1: the robot's inventory address. No stdin. Output (parsePreflight): KEY=VALUE lines: clock (date
# +%s.%N), iface and mtu (the interface holding $1), vxlan and ip_vs (yes|no), kernel, machine_id (16 hex
# of its SHA-256), ping_df (yes|no: ping can forbid fragmenting). No docker call: the engine's version
# is the facts' (facts.sh, read beside it), one docker call less per robot.
echo "clock=$(date +%s.%N)"
dev=$(ip -o -4 addr show 2>/dev/null | awk -v a="$1" '{split($4, p, "/"); if (p[1] == a) {print $2; exit}}')
if [ -n "$dev" ]; then
  echo "iface=$dev"
  echo "mtu=$(cat "/sys/class/net/$dev/mtu" 2>/dev/null)"
fi
# Loaded, else loadable: modinfo where it exists, else the kernel's module lists.
has_module() {
  [ -d "/sys/module/$1" ] && return 0
  if command -v modinfo >/dev/null 2>&1; then modinfo "$1" >/dev/null 2>&1; return; fi
  k=/lib/modules/$(uname -r)
  grep -qs "/$1\.ko" "$k/modules.dep" "$k/modules.builtin"
}
for m in vxlan ip_vs; do
  if has_module "$m"; then echo "$m=yes"; else echo "$m=no"; fi
done
echo "kernel=$(uname -r)"
[ -r /etc/machine-id ] && echo "machine_id=$(sha256sum < /etc/machine-id | cut -c1-16)"
if ping -M 'do' -c 1 -W 1 -s 56 127.0.0.1 >/dev/null 2>&1; then echo ping_df=yes; else echo ping_df=no; fi

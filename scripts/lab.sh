#!/usr/bin/env bash
# shellcheck disable=SC2016 # the sh -c scripts here are single-quoted on purpose: they expand in the robot's namespace
# The robot lab: real robots on this machine, each a set of Linux namespaces with its own address on
# a lab bridge, its own hostname, its own sshd (password login on) and its own dockerd.
# Run as root on Debian. See shared/LAB.md for the why.
#
#   lab.sh up N                 bring up robots 1..N (running ones are left alone), write the inventory
#   lab.sh down                 kill, unmount and delete everything the lab made (idempotent)
#   lab.sh list                 running robots: "name ip user"
#   lab.sh ip NAME              the robot's address
#   lab.sh exec NAME [CMD...]   run CMD as the robot's user inside the robot (login-like environment)
#   lab.sh rexec NAME [CMD...]  run CMD as root inside the robot
#   lab.sh link NAME down|up    take the robot's network link down (packets to it are dropped) or up
#   lab.sh rate NAME RATE|off   traffic toward the robot limited to RATE (e.g. 40mbit): a slow link
#   lab.sh hide NAME on|off     make the robot unreachable from this host only (other robots still
#                               reach it over the bridge): a fleet behind a jump host
#   lab.sh sudo NAME password|nopasswd   whether the robot user's sudo asks for its password
#   lab.sh sshd NAME stop|start|kill   (kill: SIGKILL to its every sshd, sessions included)
#   lab.sh dockerd NAME stop|start
#   lab.sh rekey NAME           new SSH host key (ed25519), sshd restarted
#   lab.sh check-route IP       exit 0 only if IP is routed via the lab bridge
#   lab.sh field NAME KIND      make the robot look like robots in the field:
#                                 talkative   ~/.bashrc prints a greeting on every session (ROS-style)
#                                 fish        the user's login shell is fish (not POSIX)
#                                 ssh-full    ~/.ssh on its own tiny file system, full
#                                 ssh-ro      ~/.ssh read-only (bind mount); undo with KIND ssh-rw
#                                 mtu:N       eth0 at MTU N inside the robot (a batman-adv mesh: 1400)
#                                 blackhole:N a path-MTU black hole: frames over N bytes between the
#                                             robot and the bridge are dropped, no ICMP; the robot's
#                                             own TCP (SSH, swarm control) is MSS-clamped to fit, so
#                                             only full-size UDP (VXLAN 4789 of an overlay) is lost;
#                                             from then on the whole lab sends wire-size frames (no GSO)
#                                 udp-drop:PORT  UDP to and from PORT dropped silently in the robot
#                                             (e.g. udp-drop:4789: no overlay data plane)
#                                 clock:SECONDS  the robot's `date` is off by SECONDS (may be negative;
#                                             clock:0 puts the real date back)
#                                 no-vxlan    /sys/module/vxlan is gone in the robot (what a preflight reads)
#                                 flood:SIZE  ~/.bashrc prints SIZE bytes (head -c units: 2G) on every
#                                             session, after an escape sequence (flood:0 undoes it)
#                               all undone by `lab.sh down`
#   lab.sh image FILE [NAME]    build a busybox image NAME (provision-check:busybox) on the first
#                               running robot and `docker save` it to FILE (the robot keeps no image)
#
# Environment: LAB_FIELD ("Ida:talkative Otto:fish Ida:mtu:1400") applies field kinds to robots as
# they come up (NAME:KIND, split at the first colon).
#
# Environment: LAB_BRIDGE (provbr0), LAB_SUBNET (10.88.0: bridge .1/24, robot i at .(10+i); over 244
# robots the next /24s too, 244 each at .11-.254, under the smallest prefix that holds them: 1000 robots
# in 10.88.0.0/21), LAB_PREFIX (16..24: that prefix, fixed), LAB_BRIDGE_PORTS (robots on one bridge,
# 1000; more go on linked bridges LAB_BRIDGE.2, ...),
# LAB_DIR (/var/tmp/provision-lab), LAB_PASSWORD (lab-secret-pw), LAB_USER (default: lowercase robot
# name), LAB_NAMES ("Anton Ida ..."; beyond the list: R021, R022, ...), LAB_ZONES ("a:4,b:3"),
# LAB_TIMEOUT (seconds to wait for one robot, 120), LAB_PARALLEL (robots started at once, 16).
#
# Network rule: traffic goes only to loopback and to the lab's own namespaces. Robots get no default
# route, and every robot address is checked to be routed via the lab bridge before it is waited on.
set -euo pipefail

export LAB_BRIDGE=${LAB_BRIDGE:-provbr0}
export LAB_SUBNET=${LAB_SUBNET:-10.88.0}
export LAB_DIR=${LAB_DIR:-/var/tmp/provision-lab}
LAB_TIMEOUT=${LAB_TIMEOUT:-120}
BR=$LAB_BRIDGE
DIR=${LAB_DIR%/}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
MARK=provision-lab                    # GECOS of the users the lab created
SUDOERS=/etc/sudoers.d/provision-lab
NS_PREFIX=prov-
DEFAULT_NAMES="Anton Ida Otto Emil Paula Bruno Clara Dora Fritz Greta Hugo Ilse Jonas Karl Lena Max Nora Oskar Rosa Theo"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

die() { echo "lab: $*" >&2; exit 1; }
warn() { echo "lab: $*" >&2; }

[[ $LAB_SUBNET =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "LAB_SUBNET must be three octets, e.g. 10.88.0"
[[ $BR =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "bad LAB_BRIDGE '$BR'"
[[ $DIR == /* && $DIR != / ]] || die "LAB_DIR must be an absolute path other than /"

# ---------------------------------------------------------------- names, addresses, state

name_of() { # index -> robot name
  local i=$1 names
  read -r -a names <<<"${LAB_NAMES:-$DEFAULT_NAMES}"
  if ((i <= ${#names[@]})); then echo "${names[i - 1]}"; else printf 'R%03d\n' "$i"; fi
}
user_of() { if [[ -n ${LAB_USER:-} ]]; then echo "$LAB_USER"; else echo "${1,,}"; fi; }
# Robot i at LAB_SUBNET.(10+i) for i <= 244 (one /24, as always); beyond, the next /24s, 244 robots
# each at .11-.254: robot 245 at C+1.11. The prefix on the bridge covers the rows the lab needs.
ROW=244
ip_of() {
  local k=$(($1 - 1)) a b c
  IFS=. read -r a b c <<<"$LAB_SUBNET"
  echo "$a.$b.$((c + k / ROW)).$((11 + k % ROW))"
}
# The smallest prefix (24 down to 16) whose block, aligned, holds rows C..C+rows-1 of LAB_SUBNET;
# LAB_PREFIX overrides. Empty if none does.
prefix_for() {
  local n=$1 rows c p block
  rows=$(((n + ROW - 1) / ROW)); ((rows >= 1)) || rows=1
  c=${LAB_SUBNET##*.}
  for ((p = 24; p >= 16; p--)); do
    block=$((1 << (24 - p)))
    if [[ -n ${LAB_PREFIX:-} ]] && ((p != LAB_PREFIX)); then continue; fi
    ((c / block == (c + rows - 1) / block && c + rows - 1 <= 255)) && { echo "$p"; return; }
  done
  return 0
}
# The lab's prefix: chosen by the first `up` (kept in $DIR/prefix while the lab exists), else 24.
lab_prefix() { cat "$DIR/prefix" 2>/dev/null || echo "${LAB_PREFIX:-24}"; }
ip_int() { local a b c d; IFS=. read -r a b c d <<<"$1"; echo $(((a << 24) + (b << 16) + (c << 8) + d)); }
# Whether IP (no prefix) lies in the lab's network.
in_lab_net() {
  local p mask
  p=$(lab_prefix); mask=$(((0xffffffff << (32 - p)) & 0xffffffff))
  (($(($(ip_int "$1") & mask)) == $(($(ip_int "$LAB_SUBNET.0") & mask))))
}
# Robots go on the lab bridge, LAB_BRIDGE_PORTS (1000) to a bridge: Linux takes at most 1023 ports on
# one. Robots beyond sit on further bridges (LAB_BRIDGE.2, .3, ...), each linked to the lab bridge by a
# veth pair (pvlK on the lab bridge, pvmK on bridge K): one L2 network, routed via the lab bridge.
BRIDGE_PORTS=${LAB_BRIDGE_PORTS:-1000}
bridge_of() { local b=$((($1 - 1) / BRIDGE_PORTS + 1)); if ((b == 1)); then echo "$BR"; else echo "$BR.$b"; fi; }
lab_bridges() { ip -o link show type bridge 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E "^$BR(\\.[0-9]+)?\$" || true; }
ns_of() { echo "$NS_PREFIX$1"; }
veth_of() { echo "pv$1"; }

# The robot's anchor PID if the robot is running (anchor alive and in the robot's network namespace).
robot_pid() {
  local name=$1 pid ino
  pid=$(cat "$DIR/$name/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  ino=$(stat -L -c %i "/run/netns/$(ns_of "$name")" 2>/dev/null) || return 1
  [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) == "net:[$ino]" ]] || return 1
  echo "$pid"
}

# Names of the running robots, in index order.
running_robots() {
  local f name
  for f in "$DIR"/*/index; do
    [[ -e $f ]] || continue
    name=$(basename "$(dirname "$f")")
    if robot_pid "$name" >/dev/null; then printf '%s %s\n' "$(cat "$f")" "$name"; fi
  done | sort -n | awk '{print $2}' || true
}

# NAME as given, or the running robot whose name matches it ignoring case.
resolve() {
  local want=${1:-} name
  [[ -n $want ]] || die "which robot?"
  [[ -f $DIR/$want/index ]] && { echo "$want"; return; }
  for name in $(running_robots); do [[ ${name,,} == "${want,,}" ]] && { echo "$name"; return; }; done
  die "no robot '$want' in the lab (see: lab.sh list)"
}
need_running() { robot_pid "$1" || die "robot $1 is not running"; }

# ---------------------------------------------------------------- the network rule

check_route() {
  local ip=$1 route
  route=$(ip -o route get "$ip" 2>/dev/null | head -n 1 | sed 's/ *\\.*//') || true
  [[ -n $route ]] || { echo "lab: no route to $ip: refusing" >&2; return 1; }
  if [[ $route =~ (^|[[:space:]])dev[[:space:]]+$BR([[:space:]]|$) ]] && ! [[ $route =~ [[:space:]]via[[:space:]] ]]; then
    return 0
  fi
  echo "lab: $ip is not routed via $BR ($route): refusing" >&2
  return 1
}

ensure_bridge() {
  local p
  p=$(lab_prefix)
  if ip link show dev "$BR" >/dev/null 2>&1; then
    [[ $(ip -d link show dev "$BR") == *" bridge "* ]] || die "$BR exists and is not a bridge"
  else
    # The lab network must not already be somebody else's.
    local other
    other=$(ip -o -4 addr show | awk '{split($4, a, "/"); print $2, a[1]}' | while read -r dev a; do
      [[ $dev != "$BR" ]] && in_lab_net "$a" && echo "$dev"; done | sort -u || true)
    [[ -z $other ]] || die "$LAB_SUBNET.0/$p is already in use on: $other"
    ip link add name "$BR" type bridge stp_state 0 forward_delay 0
    no_ipv6 "$BR"
  fi
  [[ $(ip -4 addr show dev "$BR") == *" $LAB_SUBNET.1/$p "* ]] || ip addr add "$LAB_SUBNET.1/$p" dev "$BR"
  ip link set "$BR" up
  if [[ $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null) == 1 ]] &&
    [[ $(iptables -S FORWARD 2>/dev/null || true) == *"-P FORWARD DROP"* ]]; then
    warn "warning: bridged traffic goes through iptables and FORWARD drops it: robots may not reach each other"
  fi
}

# Bridge LAB_BRIDGE.K (see bridge_of), linked to the lab bridge.
ensure_extra_bridge() {
  local br=$1 k=${1##*.}
  ip link show dev "$br" >/dev/null 2>&1 && return 0
  ((${#br} <= 15)) || die "bridge name $br is too long: shorten LAB_BRIDGE for a lab over $BRIDGE_PORTS robots"
  ip link add name "$br" type bridge stp_state 0 forward_delay 0
  no_ipv6 "$br"
  ip link add "pvl$k" type veth peer name "pvm$k"
  no_ipv6 "pvl$k"; no_ipv6 "pvm$k"
  ip link set "pvl$k" master "$BR" up
  ip link set "pvm$k" master "$br" up
  ip link set "$br" up
}

# The kernel's ARP table is one for all namespaces (gc_thresh3 = 1024 entries by default). Every
# swarm node gossips with every other, so N robots fill ~N² entries: at 50 the table overflows and
# robots stop resolving each other and the host ("no route to host", "neighbor table overflow" in
# dmesg). Raise the limits for the lab; `down` puts the saved values back.
NEIGH=/proc/sys/net/ipv4/neigh/default
raise_neigh_limits() {
  local n=$1 need k
  need=$((4 * (n + 10) * (n + 10)))
  (($(cat "$NEIGH/gc_thresh3") < need)) || return 0
  [[ -e $DIR/neigh-saved ]] || { for k in 1 2 3; do cat "$NEIGH/gc_thresh$k"; done > "$DIR/neigh-saved"; }
  echo $((need / 4)) > "$NEIGH/gc_thresh1"
  echo $((need / 2)) > "$NEIGH/gc_thresh2"
  echo "$need" > "$NEIGH/gc_thresh3"
}
restore_neigh_limits() {
  [[ -e $DIR/neigh-saved ]] || return 0
  local v
  # thresh3 first when lowering keeps thresh1 <= thresh2 <= thresh3 at every step
  mapfile -t v < "$DIR/neigh-saved"
  echo "${v[2]}" > "$NEIGH/gc_thresh3"; echo "${v[1]}" > "$NEIGH/gc_thresh2"; echo "${v[0]}" > "$NEIGH/gc_thresh1"
  rm -f "$DIR/neigh-saved"
}

no_ipv6() { local f=/proc/sys/net/ipv6/conf/$1/disable_ipv6; if [[ -w $f ]]; then echo 1 >"$f" || true; fi; }

# ---------------------------------------------------------------- packages, users

ensure_packages() {
  local need=0 c pkgs="docker.io openssh-server iproute2 sudo"
  for c in dockerd sshd ip sudo ssh-keygen; do command -v "$c" >/dev/null 2>&1 || need=1; done
  [[ -x /usr/lib/openssh/sftp-server ]] || need=1
  if sim_wanted; then # the stand-in's client, and its model's runtime
    command -v socat >/dev/null 2>&1 || need=1
    command -v node >/dev/null 2>&1 || die "a simulated lab needs node (the swarm model, scripts/sim-docker.mjs)"
    pkgs+=" socat"
  fi
  ((need)) || return 0
  warn "installing $pkgs"
  local policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then # keep the packages from starting the host's sshd/dockerd
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
  fi
  local rc=0
  # shellcheck disable=SC2086 # $pkgs: package names, split on purpose
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs; } >&2 || rc=$?
  ((policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install failed"
}

procs_named() { grep -lsx -- "$1" /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3 || true; }

lab_users() { awk -F: -v m="$MARK" '$5 == m {print $1}' /etc/passwd; }

ensure_user() {
  local user=$1 gecos
  [[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "'$user' is not a valid user name (set LAB_USER)"
  getent group docker >/dev/null || groupadd -r docker
  if gecos=$(getent passwd "$user"); then
    [[ $(cut -d: -f5 <<<"$gecos") == "$MARK" ]] || die "user '$user' exists and was not made by the lab: set LAB_USER to another name"
  else
    useradd -M -d "/home/$user" -s /bin/bash -c "$MARK" -U -G docker "$user"
  fi
  printf '%s:%s\n' "$user" "${LAB_PASSWORD:-lab-secret-pw}" | chpasswd
}

write_sudoers() {
  local users tmp
  users=$(lab_users)
  if [[ -z $users ]]; then rm -f "$SUDOERS"; return; fi
  mkdir -p /etc/sudoers.d
  tmp=$(mktemp /etc/sudoers.d/.provision-lab.XXXXXX)
  {
    echo "# written by scripts/lab.sh (robot lab users)"
    for u in $users; do
      if [[ -e $DIR/sudo-password.$u ]]; then echo "$u ALL=(ALL:ALL) ALL"; else echo "$u ALL=(ALL:ALL) NOPASSWD: ALL"; fi
    done
  } >"$tmp"
  chmod 0440 "$tmp"
  if command -v visudo >/dev/null && ! visudo -cqf "$tmp" >/dev/null; then rm -f "$tmp"; die "bad sudoers file"; fi
  mv -f "$tmp" "$SUDOERS"
}

# ---------------------------------------------------------------- killing what runs in the lab

# PIDs of every process in the lab: in a lab network or mount namespace, started from a lab file,
# and all their descendants (containers included). A fixed number of processes whatever the lab's
# size (each scan one find, one grep, one cat over /proc; no process per robot), so that it stays
# quick with 300 dockerds and 1000 sshds.
lab_pids() {
  local anchors sshds
  anchors=$(cat "$DIR"/*/pid 2>/dev/null | grep -Ex '[0-9]+' | sed 's|^|/proc/|; s|$|/ns|' || true)
  sshds=$(procs_named sshd)
  {
    stat -L -c 'N net:[%i]' /run/netns/"$NS_PREFIX"* 2>/dev/null || true
    echo "H $(readlink /proc/1/ns/net)"
    # an anchor's mount namespace, only while the PID still is a robot's (not recycled into the host's)
    # shellcheck disable=SC2086 # one path a line, split on purpose
    [[ -z $anchors ]] || find $anchors -maxdepth 1 \( -name net -o -name mnt \) -printf 'A %h %f %l\n' 2>/dev/null
    find /proc/[0-9]*/ns -maxdepth 1 \( -name net -o -name mnt \) -printf 'P %h %l\n' 2>/dev/null
    # a robot sshd whose namespace file is gone: its command line names a lab file (bounded: a dying
    # process's command line can block its reader)
    # shellcheck disable=SC2046,SC2086 # one path a word
    [[ -z $sshds ]] || timeout 10 grep -lasF -- "$DIR/" /dev/null $(printf '/proc/%s/cmdline ' $sshds) | sed -n 's|^/proc/\([0-9]*\)/cmdline$|C \1|p'
    cat /proc/[0-9]*/stat 2>/dev/null | sed -E 's/^([0-9]+) \(.*\) ([A-Za-z]) ([0-9]+) .*/S \1 \3 \2/'
  } | awk -v self=$$ '
    $1 == "N" { lab[$2] = 1; next }
    $1 == "H" { host = $2; next }
    $1 == "A" { split($2, a, "/"); if ($3 == "net") anet[a[3]] = $4; else amnt[a[3]] = $4; next }
    $1 == "P" {
      if (!anchors_done) { for (p in amnt) if (anet[p] != host && anet[p] != "") lab[amnt[p]] = 1; anchors_done = 1 }
      split($2, a, "/"); if ($3 in lab) hit[a[3]] = 1; next
    }
    $1 == "C" { hit[$2] = 1; next }
    $1 == "S" { parent[$2] = $3; if ($4 == "Z") zombie[$2] = 1; next }
    END {
      changed = 1
      while (changed) { changed = 0; for (p in parent) if (!(p in hit) && (parent[p] in hit)) { hit[p] = 1; changed = 1 } }
      # a zombie is not killed again: its parent (or init) reaps it
      for (p in hit) if (p != self && p != 1 && !(p in zombie)) print p
    }'
}

# SIGKILL to every lab process, scanned again until none is left (a process started meanwhile, a
# container whose shim was killed first), within LAB_DOWN_TIMEOUT seconds in all; each scan bounded
# too (run as its own process under timeout).
kill_lab_processes() {
  local deadline=$((SECONDS + ${LAB_DOWN_TIMEOUT:-120})) live=() all=() p
  while ((SECONDS < deadline)); do
    # shellcheck disable=SC2207 # one number a line
    live=($(timeout $((deadline - SECONDS + 1)) bash "$SELF" _pids | grep -vx "$$" | grep -vx "$BASHPID" || true))
    ((${#live[@]})) || break
    kill -KILL "${live[@]}" 2>/dev/null || true
    all+=("${live[@]}")
    sleep 0.2
  done
  ((${#live[@]} == 0)) || warn "some lab processes would not die within ${LAB_DOWN_TIMEOUT:-120} s: ${live[*]}"
  # wait (briefly) until the killed processes are gone, so none shows up even as a zombie
  local alive
  for _ in $(seq 1 50); do
    alive=0
    for p in "${all[@]}"; do [[ -e /proc/$p ]] && { alive=1; break; }; done
    ((alive)) || return 0
    sleep 0.1
  done
  return 0
}

# ---------------------------------------------------------------- one robot

# Runs inside the robot's new mount and UTS namespaces (and its network namespace); becomes the
# robot's anchor process (sleep) once sshd and dockerd are started.
robot_init() {
  local name=$1 d=$DIR/$1 cg root_type mp type opts
  echo "$name" >/proc/sys/kernel/hostname
  cg=$(awk '($3 == "cgroup" || $3 == "cgroup2") && index($2, "/sys/fs/cgroup/") == 1 {print $2, $3, $4}' /proc/self/mounts)
  root_type=$(awk '$2 == "/sys/fs/cgroup" {t = $3} END {print t}' /proc/self/mounts)
  # copies of the host's netns mounts would keep other robots' namespaces alive: drop them here, all
  # at once where /run/netns is a mount (iproute2 makes it one): one by one costs O(N) a robot
  if mountpoint -q /run/netns 2>/dev/null; then umount -l /run/netns 2>/dev/null || true; fi
  awk 'index($2, "/run/netns/") == 1 {print $2}' /proc/self/mounts | while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
  mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
  mkdir -p /run/sshd /run/lock && chmod 755 /run/sshd && chmod 1777 /run/lock
  mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
  if ! sim_lab; then # a simulated robot runs no dockerd: no cgroups for it
    if [[ $root_type == cgroup2 ]]; then
      mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
    else
      mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
      while read -r mp type opts; do
        [[ -n $mp ]] || continue
        mkdir -p "$mp"
        mount -t "$type" -o "$opts" "$type" "$mp" || echo "lab: could not mount $type $mp ($opts)" >&2
      done <<<"$cg"
      # `docker exec` (runc) wants the name=systemd hierarchy: a host without one gets one here
      if [[ $cg != *"name=systemd"* ]]; then
        mkdir -p /sys/fs/cgroup/systemd
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || echo "lab: could not mount the name=systemd cgroup" >&2
      fi
    fi
  fi
  mount --bind "$d/home" /home
  mkdir -p /var/lib/docker
  mount --bind "$d/docker" /var/lib/docker
  [[ -e /etc/hostname ]] && mount --bind "$d/hostname" /etc/hostname
  # each robot its own /etc/docker (key.json = the engine ID on Docker < 23), as on real robots
  mkdir -p /etc/docker "$d/etc-docker"
  mount --bind "$d/etc-docker" /etc/docker
  mount --bind "$d/hosts" /etc/hosts
  # its own /etc/machine-id, as robots that were not cloned from one image have
  [[ -e /etc/machine-id ]] && mount --bind "$d/machine-id" /etc/machine-id
  if sim_lab; then
    # docker is the stand-in (scripts/sim-docker.sh) here: the same path, so sudo's and sshd's PATHs find it
    mount --bind "$DIR/sim/docker" "$(readlink -f "$(command -v docker)")"
  fi
  start_sshd_here "$name"
  sim_lab || start_dockerd_here "$name"
  echo $$ >"$d/pid.new" && mv -f "$d/pid.new" "$d/pid"
  exec sleep infinity
}

start_sshd_here() { /usr/sbin/sshd -f "$DIR/$1/sshd_config" -E "$DIR/$1/sshd.log"; }
start_dockerd_here() {
  # double fork: dockerd is reparented to init, which reaps it when it stops
  (setsid dockerd --storage-driver=vfs --iptables=false --ip6tables=false --group docker \
    </dev/null >>"$DIR/$1/dockerd.log" 2>&1 &)
}

write_robot_files() {
  local i=$1 name=$2 user=$3 ip=$4 d=$DIR/$2 gid
  mkdir -p "$d/home" "$d/docker"
  chmod 755 "$d" "$d/home"; chmod 710 "$d/docker"
  echo "$i" >"$d/index"; echo "$ip" >"$d/ip"; echo "$user" >"$d/user"
  echo "$name" >"$d/hostname"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$d/machine-id" && echo >>"$d/machine-id"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n' "$ip" "$name" >"$d/hosts"
  ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$d/ssh_host_ed25519_key" </dev/null >/dev/null
  cat >"$d/sshd_config" <<EOF
# robot $name (scripts/lab.sh)
ListenAddress $ip
Port 22
HostKey $d/ssh_host_ed25519_key
PidFile /run/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication yes
UsePAM yes
PermitRootLogin no
AllowUsers $user
UseDNS no
MaxStartups 100:30:200
MaxSessions 10
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  # home: the user's, mode 755, from /etc/skel, and no ~/.ssh (the tool makes it)
  gid=$(id -g "$user")
  mkdir -p "$d/home/$user"
  cp -a /etc/skel/. "$d/home/$user/" 2>/dev/null || true
  rm -rf "$d/home/$user/.ssh"
  chown -R "$user:$gid" "$d/home/$user"
  chmod 755 "$d/home/$user"
}

# PIDs of every process in the robot's network namespace (the lab has no PID namespaces).
netns_pids() {
  local ino
  ino=$(stat -L -c %i "/run/netns/$(ns_of "$1")" 2>/dev/null) || return 0
  find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/net' -lname "net:\[$ino\]" -printf '%h\n' 2>/dev/null | cut -d/ -f3 || true
}

# Tear down what is left of one robot that is not running (a failed or partial earlier start).
clear_robot() {
  local i=$1 name=$2 ns
  ns=$(ns_of "$name")
  ip link del "$(veth_of "$i")" 2>/dev/null || true
  if [[ -e /run/netns/$ns ]]; then
    local pids
    pids=$(netns_pids "$name")
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  [[ -e $DIR/$name ]] && rm -rf --one-file-system "${DIR:?}/$name"
  return 0
}

wait_for() { # seconds description command...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "lab: timed out waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}
sshd_listening() { local out; out=$(nsenter --net="/run/netns/$(ns_of "$1")" ss -Hltn 'sport = :22') && [[ $out == *" $2:22 "* ]]; }
docker_answers() { local out; out=$(nsenter -t "$1" --net --mount --uts docker info --format '{{.ID}}') && [[ -n $out ]]; }
anchor_up() { [[ -s $DIR/$1/pid ]]; }

start_robot() {
  local i=$1 name=$2 user=$3 ip=$4 d=$DIR/$2 ns veth init pid
  ns=$(ns_of "$name"); veth=$(veth_of "$i")
  ip netns add "$ns"
  nsenter --net="/run/netns/$ns" sh -c 'for f in /proc/sys/net/ipv6/conf/default/disable_ipv6 /proc/sys/net/ipv6/conf/all/disable_ipv6; do [ -w $f ] && echo 1 > $f; done; true'
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  no_ipv6 "$veth"
  if [[ -e $DIR/wire-frames ]]; then # see wire_frames
    ip link set "$veth" gso_max_segs 1; ip -n "$ns" link set eth0 gso_max_segs 1
  fi
  ip link set "$veth" master "$(bridge_of "$i")" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip/$(lab_prefix)" dev eth0
  ip -n "$ns" link set eth0 up
  setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private -- \
    bash "$SELF" _init "$name" </dev/null >>"$d/init.log" 2>&1 9>&- &
  init=$!
  local deadline=$((SECONDS + LAB_TIMEOUT))
  until anchor_up "$name"; do
    kill -0 "$init" 2>/dev/null || { echo "lab: $name: start-up failed: $(tail -n 5 "$d/init.log" | tr '\n' ' ')" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "lab: $name: timed out starting" >&2; return 1; }
    sleep 0.05
  done
  pid=$(cat "$d/pid")
  check_route "$ip" || return 1
  wait_for $((deadline - SECONDS)) "$name's sshd on $ip:22" sshd_listening "$name" "$ip" ||
    { tail -n 5 "$d/sshd.log" >&2 2>/dev/null; return 1; }
  sim_lab && return 0
  wait_for $((deadline - SECONDS)) "$name's dockerd" docker_answers "$pid" ||
    { tail -n 5 "$d/dockerd.log" >&2 2>/dev/null; return 1; }
}

# ---------------------------------------------------------------- inventory

write_inventory() {
  local names=() zones=() spec z n k name tmp
  mapfile -t names < <(running_robots)
  if [[ -n ${LAB_ZONES:-} ]]; then
    IFS=',' read -r -a spec <<<"$LAB_ZONES"
    for z in "${spec[@]}"; do
      [[ $z =~ ^([A-Za-z0-9_.-]+):([0-9]+)$ ]] || die "bad LAB_ZONES entry '$z' (want zone:count)"
      for ((k = 0; k < BASH_REMATCH[2]; k++)); do zones+=("${BASH_REMATCH[1]}"); done
    done
  fi
  tmp=$(mktemp "$DIR/.inventory.XXXXXX")
  {
    echo "# written by scripts/lab.sh"
    echo "defaults: { port: 22, sudo: false }"
    echo "swarm: { managers: auto }"
    echo "robots:"
    n=0
    for name in "${names[@]}"; do
      echo "  - name: $name"
      echo "    ip: $(cat "$DIR/$name/ip")"
      echo "    user: $(cat "$DIR/$name/user")"
      [[ -n ${zones[n]:-} ]] && echo "    zone: ${zones[n]}"
      n=$((n + 1))
    done
  } >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$DIR/inventory.yaml"
}

# ---------------------------------------------------------------- the simulated lab

# A simulated lab (up N --sim-docker, or LAB_SIM_DOCKER=1): real namespaces, sshd and users, and as
# docker a stand-in (scripts/sim-docker.sh) answering from one swarm model (scripts/sim-docker.mjs,
# one node process on a unix socket in $DIR/sim). The lab keeps its kind until `down`.
sim_wanted() { [[ ${LAB_SIM_DOCKER:-} == 1 ]]; }
sim_lab() { [[ -e $DIR/sim-docker ]]; }
SIM_SOCK=$DIR/sim/docker.sock
sim_call() { printf '%s\0' @ctl "$#" "$@" | socat -t 600 - "UNIX-CONNECT:$SIM_SOCK" 2>/dev/null; }
sim_answers() { [[ $(sh -c "$(sim_call ping)" 2>/dev/null) == pong ]]; }
sim_model_pid() {
  local p
  p=$(cat "$DIR/sim/pid" 2>/dev/null) || return 1
  [[ $p =~ ^[0-9]+$ && $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *"sim-docker.mjs $SIM_SOCK "* ]] && echo "$p"
}

start_sim_model() {
  mkdir -p "$DIR/sim"
  sed "s|@SOCK@|$SIM_SOCK|" "$(dirname "$SELF")/sim-docker.sh" >"$DIR/sim/docker.new"
  chmod 755 "$DIR/sim/docker.new"
  # written in place once robots have it bind-mounted (a rename would leave them the old file)
  if [[ -e $DIR/sim/docker ]]; then cat "$DIR/sim/docker.new" >"$DIR/sim/docker"; rm -f "$DIR/sim/docker.new"; else mv "$DIR/sim/docker.new" "$DIR/sim/docker"; fi
  sim_model_pid >/dev/null && return 0
  (setsid node "$(dirname "$SELF")/sim-docker.mjs" "$SIM_SOCK" "$DIR" </dev/null >>"$DIR/sim/model.log" 2>&1 9>&- &
    echo $! >"$DIR/sim/pid")
  wait_for 30 "the swarm model (scripts/sim-docker.mjs, log: $DIR/sim/model.log)" sim_answers || die "the swarm model did not start"
}

stop_sim_model() {
  local p
  p=$(sim_model_pid) || return 0
  kill -TERM "$p" 2>/dev/null || true
  wait_for 5 "the swarm model to stop" gone "$p" || kill -KILL "$p" 2>/dev/null || true
}

#   lab.sh sim counts|reset|state|set KEY=VALUE...   (see scripts/sim-docker.mjs)
cmd_sim() {
  sim_lab || die "this lab is not simulated (lab.sh up N --sim-docker)"
  (($#)) || die "usage: lab.sh sim counts|reset|state|set KEY=VALUE..."
  local out
  out=$(sim_call "$@") || die "the swarm model does not answer (log: $DIR/sim/model.log)"
  printf '%s\n' "$out" | sh # on stdin: 1000 nodes' state is over an argument's 128 KB
}

# ---------------------------------------------------------------- commands

lock() { mkdir -p /run/lock; exec 9>"/run/lock/provision-lab.$BR.lock"; flock -w 600 9 || die "another lab.sh up/down is running"; }

cmd_up() {
  local n=${1:-} i name user ip
  [[ ${2:-} == --sim-docker ]] && export LAB_SIM_DOCKER=1
  [[ -z ${2:-} || ${2:-} == --sim-docker ]] || die "usage: lab.sh up N [--sim-docker]"
  { [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 9999)); } || die "usage: lab.sh up N (1..9999)"
  [[ -z ${LAB_PREFIX:-} || ${LAB_PREFIX:-} =~ ^(1[6-9]|2[0-4])$ ]] || die "LAB_PREFIX must be 16..24"
  ensure_packages
  lock
  mkdir -p "$DIR"; chmod 755 "$DIR"
  local want have
  want=$(prefix_for "$n")
  [[ -n $want ]] || die "$n robots do not fit in an aligned block of /24s from $LAB_SUBNET.0${LAB_PREFIX:+ with LAB_PREFIX=$LAB_PREFIX} (244 robots a /24)"
  if [[ -s $DIR/prefix ]]; then
    have=$(cat "$DIR/prefix")
    ((want >= have)) || die "$n robots need a /$want and this lab is a /$have: lab.sh down first (or set LAB_PREFIX at the first up)"
  else
    echo "$want" >"$DIR/prefix"
  fi
  if [[ -n $(running_robots | head -n 1) ]]; then
    [[ $(sim_wanted && echo 1) == $(sim_lab && echo 1) ]] ||
      die "the running lab is $(sim_lab || echo "not ")simulated: lab.sh down first"
  fi
  if sim_wanted; then touch "$DIR/sim-docker"; start_sim_model; else rm -f "$DIR/sim-docker"; fi
  ensure_bridge
  for ((i = BRIDGE_PORTS + 1; i <= n; i += BRIDGE_PORTS)); do ensure_extra_bridge "$(bridge_of "$i")"; done
  raise_neigh_limits "$n"
  local todo=() seen=" "
  for ((i = 1; i <= n; i++)); do
    name=$(name_of "$i")
    [[ $name =~ ^[A-Za-z][A-Za-z0-9_-]{0,30}$ ]] || die "bad robot name '$name' (LAB_NAMES)"
    [[ $seen != *" ${name,,} "* ]] || die "robot name '$name' twice (LAB_NAMES)"
    seen+="${name,,} "
    robot_pid "$name" >/dev/null && continue
    local other
    for other in $(running_robots); do
      [[ $(cat "$DIR/$other/index") == "$i" ]] && die "robot $other already holds place $i (LAB_NAMES changed?)"
    done
    todo+=("$i")
  done
  # serial part: users, passwords, sudoers, stale leftovers, per-robot files
  local users=" "
  for i in "${todo[@]}"; do
    name=$(name_of "$i"); user=$(user_of "$name")
    [[ $users == *" $user "* ]] || { ensure_user "$user"; users+="$user "; }
    clear_robot "$i" "$name"
    write_robot_files "$i" "$name" "$user" "$(ip_of "$i")"
  done
  ((${#todo[@]})) && write_sudoers
  # parallel part: namespaces, links, daemons, readiness
  # At most LAB_PARALLEL robots start at once: 100 dockerds starting together on 2 cores time out
  # waiting for their containerd.
  local jobs=() failed=() j
  for i in "${todo[@]}"; do
    name=$(name_of "$i")
    start_robot "$i" "$name" "$(user_of "$name")" "$(ip_of "$i")" 2>"$DIR/$name/up.err" &
    jobs+=("$!:$name")
    if ((${#jobs[@]} >= ${LAB_PARALLEL:-$(sim_lab && echo 48 || echo 16)})); then
      j=${jobs[0]}; jobs=("${jobs[@]:1}")
      wait "${j%%:*}" || failed+=("${j#*:}")
    fi
  done
  for j in "${jobs[@]}"; do
    wait "${j%%:*}" || failed+=("${j#*:}")
  done
  for name in "${failed[@]}"; do
    warn "robot $name did not come up:"; sed 's/^/  /' "$DIR/$name/up.err" >&2
  done
  write_inventory
  local spec
  for spec in ${LAB_FIELD:-}; do # only robots started now: a running robot keeps what it has
    for i in "${todo[@]}"; do [[ $(name_of "$i") == "${spec%%:*}" ]] && cmd_field "${spec%%:*}" "${spec#*:}"; done
  done
  for name in $(running_robots); do
    printf '%-8s %-15s %s\n' "$name" "$(cat "$DIR/$name/ip")" "$(cat "$DIR/$name/user")"
  done
  echo "inventory: $DIR/inventory.yaml"
  ((${#failed[@]} == 0)) || die "${#failed[@]} robot(s) failed: ${failed[*]} (lab.sh down cleans up)"
}

cmd_down() {
  [[ -d $DIR || -n $(ip netns list 2>/dev/null | grep "^$NS_PREFIX" || true) ]] || ip link show dev "$BR" >/dev/null 2>&1 ||
    [[ -n $(lab_users) || -e $SUDOERS || -n $(hidden_routes) ]] || return 0
  lock
  stop_sim_model
  kill_lab_processes
  # host ends of the veths, explicitly: a namespace dies asynchronously, and a leftover veth would
  # make the next up skip its pair
  local links l
  links=$( {
    for l in $(lab_bridges); do ip -o link show master "$l" 2>/dev/null | awk -F': ' '{print $2}'; done
    ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^pv[lm]?[0-9]+(@|$)' || true
    cat "$DIR"/*/index 2>/dev/null | sed 's/^/pv/'
  } | sed 's/@.*//' | sort -u || true)
  # one `ip -batch` each (not an ip per robot: 1000 robots)
  [[ -z $links ]] || awk '{print "link del " $0}' <<<"$links" | ip -force -batch - >/dev/null 2>&1 || true
  l=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX" || true)
  [[ -z $l ]] || awk '{print "netns del " $0}' <<<"$l" | ip -force -batch - >/dev/null 2>&1 || true
  for l in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX" || true); do
    ip netns del "$l" 2>/dev/null || warn "could not delete netns $l"
  done
  for l in $(lab_bridges); do ip link del "$l" 2>/dev/null || true; done
  for l in $(hidden_routes); do ip route del unreachable "$l" 2>/dev/null || true; done
  kill_lab_processes
  for l in $(lab_users); do userdel "$l" 2>/dev/null || userdel -f "$l" 2>/dev/null || warn "could not delete user $l"; done
  rm -f "$SUDOERS"
  restore_neigh_limits
  if [[ -d $DIR ]]; then
    awk -v p="$DIR/" 'index($2 "/", p) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r l; do umount -l "$l" 2>/dev/null || true; done
    rm -rf --one-file-system "$DIR"
  fi
}

cmd_exec() {
  local name pid user uid gid
  name=$(resolve "${1:-}"); shift || true
  pid=$(need_running "$name")
  user=$(cat "$DIR/$name/user"); uid=$(id -u "$user"); gid=$(id -g "$user")
  (($#)) || set -- bash -l
  exec nsenter -t "$pid" --net --mount --uts -- \
    setpriv --reuid="$uid" --regid="$gid" --init-groups --reset-env \
    bash -c 'cd ~ 2>/dev/null; exec "$@"' bash "$@"
}

cmd_rexec() {
  local name pid
  name=$(resolve "${1:-}"); shift || true
  pid=$(need_running "$name")
  (($#)) || set -- bash -l
  exec nsenter -t "$pid" --net --mount --uts -- \
    env -i TERM="${TERM:-dumb}" HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c 'cd /root 2>/dev/null; exec "$@"' bash "$@"
}

cmd_field() {
  local name user home pid
  name=$(resolve "${1:-}"); pid=$(need_running "$name")
  user=$(cat "$DIR/$name/user"); home=$DIR/$name/home/$user
  case ${2:-} in
    talkative)
      # sshd runs commands through bash -c, which sources ~/.bashrc: robots' set-ups often echo there,
      # above the stock "not interactive: return" guard
      { echo 'echo "Welcome to $(hostname) — ROS_DISTRO=humble, ROS_DOMAIN_ID=7"'; cat "$home/.bashrc" 2>/dev/null; } >"$home/.bashrc.new"
      mv "$home/.bashrc.new" "$home/.bashrc"; chown "$user:" "$home/.bashrc" ;;
    fish)
      command -v fish >/dev/null || { apt-get install -y -qq fish >&2 || die "could not install fish"; }
      usermod -s "$(command -v fish)" "$user" ;;
    ssh-full)
      nsenter -t "$pid" --mount -- sh -c '
        set -e; d=$1/.ssh; mkdir -p "$d"; keep=$(mktemp -d); cp -a "$d/." "$keep/"
        mount -t tmpfs -o size=64k,mode=700 tmpfs "$d"; cp -a "$keep/." "$d/"; rm -rf "$keep"
        chown "$2:" "$d"; chmod 700 "$d"
        dd if=/dev/zero of="$d/.filler" bs=4k 2>/dev/null || true' sh "/home/$user" "$user" ;;
    ssh-ro)
      nsenter -t "$pid" --mount -- sh -c 'mkdir -p "$1" && chown "$2:" "$1" && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"' sh "/home/$user/.ssh" "$user" ;;
    ssh-rw)
      nsenter -t "$pid" --mount -- sh -c 'while mountpoint -q "$1"; do umount "$1"; done' sh "/home/$user/.ssh" ;;
    mtu:*)
      local mtu=${2#mtu:}
      { [[ $mtu =~ ^[0-9]{3,4}$ ]] && ((mtu >= 576 && mtu <= 1500)); } || die "mtu:N wants N in 576..1500"
      ip -n "$(ns_of "$name")" link set eth0 mtu "$mtu" ;;
    blackhole:*)
      local mtu=${2#blackhole:} ns
      { [[ $mtu =~ ^[0-9]{3,4}$ ]] && ((mtu >= 576 && mtu <= 1500)); } || die "blackhole:N wants N in 576..1500"
      ns=$(ns_of "$name")
      # The bridge side of the robot's veth at MTU N: bigger frames are dropped in both directions
      # without a word. The robot's own TCP is clamped to MSS N-40 on every SYN in and out (as a
      # mesh's gateway would), so SSH and swarm control fit; an overlay's VXLAN UDP keeps its 1500.
      ip link set "$(veth_of "$(cat "$DIR/$name/index")")" mtu "$mtu"
      # the bridge would follow its smallest port down to N (and so the host's own MTU to every
      # robot): an MTU set by hand keeps it at 1500
      ip link set "$BR" mtu 1500
      wire_frames
      field_chain "$ns" mangle LAB-MSS flush PREROUTING OUTPUT
      ip netns exec "$ns" iptables -t mangle -A LAB-MSS -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss $((mtu - 40)) ;;
    udp-drop:*)
      local port=${2#udp-drop:} ns opt
      { [[ $port =~ ^[0-9]{1,5}$ ]] && ((port >= 1 && port <= 65535)); } || die "udp-drop:PORT wants a port number"
      ns=$(ns_of "$name")
      field_chain "$ns" filter LAB-UDP keep INPUT OUTPUT
      for opt in --dport --sport; do
        ip netns exec "$ns" iptables -C LAB-UDP -p udp "$opt" "$port" -j DROP 2>/dev/null ||
          ip netns exec "$ns" iptables -A LAB-UDP -p udp "$opt" "$port" -j DROP
      done ;;
    clock:*)
      local off=${2#clock:} d=$DIR/$name target f sign=1
      [[ $off =~ ^[+-]?[0-9]{1,10}$ ]] || die "clock:SECONDS wants a whole number of seconds (may be negative)"
      [[ $off == -* ]] && sign=-1
      off=$((sign * 10#${off#[+-]}))
      [[ -x $d/date.real ]] || cp /usr/bin/date "$d/date.real"
      # written in place (same inode), so a bind mount already there shows the new offset at once
      cat >"$d/date.fake" <<EOF
#!/bin/sh
# scripts/lab.sh field $name clock:$off: this robot's clock is off by $off s
for a in "\$@"; do
  case \$a in -d* | --date* | -r* | --reference* | -f* | --file* | -s* | --set*) exec "$d/date.real" "\$@" ;; esac
done
now=\$("$d/date.real" +%s.%N)
exec "$d/date.real" -d "@\$((\${now%.*} + ($off))).\${now#*.}" "\$@"
EOF
      chmod 755 "$d/date.fake"
      target=$(readlink -f /usr/bin/date) # /bin is /usr/bin here (merged /usr); a separate /bin/date too
      for f in "$target" /bin/date; do
        [[ -e $f && ! -L $f ]] || continue
        if ((off == 0)); then
          nsenter -t "$pid" --mount -- sh -c 'while grep -q " $1 " /proc/self/mountinfo; do umount "$1"; done' sh "$f"
        else
          nsenter -t "$pid" --mount -- sh -c 'grep -q " $1 " /proc/self/mountinfo || mount --bind "$2" "$1"' sh "$f" "$d/date.fake"
        fi
      done ;;
    no-vxlan)
      # /sys/module becomes a read-only tmpfs holding bind mounts of every module's directory but
      # vxlan's (the kernel keeps vxlan: the robot's dockerd and its overlays carry on)
      nsenter -t "$pid" --mount -- sh -c '
        set -e
        [ "$(findmnt -n -o FSTYPE /sys/module)" = tmpfs ] && exit 0
        keep=/run/lab-sys-module; mkdir -p "$keep"; mount --bind /sys/module "$keep"
        mount -t tmpfs -o mode=755,nosuid,nodev,noexec,size=64k tmpfs /sys/module
        for m in "$keep"/*; do
          b=${m##*/}; [ "$b" = vxlan ] && continue
          mkdir "/sys/module/$b"; mount --bind "$m" "/sys/module/$b"
        done
        mount -o remount,ro /sys/module; umount "$keep"; rmdir "$keep"' ;;
    flood:*)
      # a start-up file gone wrong: it prints without end (for the laptop: SIZE bytes before the command runs)
      local size=${2#flood:}
      [[ $size =~ ^[0-9]+[KMG]?$ ]] || die "flood:SIZE wants a size such as 2G (0 undoes it)"
      touch "$home/.bashrc"
      grep -v '# lab flood$' "$home/.bashrc" >"$home/.bashrc.new" || true
      if [[ $size != 0 ]]; then
        { printf '%s\n' "printf '\\033[31mflooding\\n'; yes | head -c $size # lab flood"; cat "$home/.bashrc.new"; } >"$home/.bashrc"
        rm -f "$home/.bashrc.new"
      else
        mv "$home/.bashrc.new" "$home/.bashrc"
      fi
      chown "$user:" "$home/.bashrc" ;;
    *) die "usage: lab.sh field NAME talkative|fish|ssh-full|ssh-ro|ssh-rw|mtu:N|blackhole:N|udp-drop:PORT|clock:SECONDS|no-vxlan|flood:SIZE" ;;
  esac
}

# The MTU checks of veths and bridges let GSO packets (up to 64 KB of TCP or VXLAN) through whatever
# their size, so a black hole would swallow only some full-size frames. Once there is one, every
# sender in the lab (each robot's eth0, the bridge ports, the bridge: the host) hands frames of
# wire size to the links, and robots started later do so too.
wire_frames() {
  local name l b
  touch "$DIR/wire-frames"
  for name in $(running_robots); do
    ip -n "$(ns_of "$name")" link set eth0 gso_max_segs 1
    ip link set "$(veth_of "$(cat "$DIR/$name/index")")" gso_max_segs 1
  done
  for b in $(lab_bridges); do
    for l in $(ip -o link show master "$b" | awk -F': ' '{print $2}' | sed 's/@.*//'); do ip link set "$l" gso_max_segs 1; done
    ip link set "$b" gso_max_segs 1
  done
}

# A chain of the lab's in the robot's network namespace, jumped to from the given built-in chains;
# "flush" empties it if it was there, "keep" leaves its rules.
field_chain() { # ns table chain flush|keep builtin...
  local ns=$1 t=$2 c=$3 mode=$4 b; shift 4
  if ! ip netns exec "$ns" iptables -t "$t" -N "$c" 2>/dev/null && [[ $mode == flush ]]; then
    ip netns exec "$ns" iptables -t "$t" -F "$c"
  fi
  for b in "$@"; do
    ip netns exec "$ns" iptables -t "$t" -C "$b" -j "$c" 2>/dev/null || ip netns exec "$ns" iptables -t "$t" -A "$b" -j "$c"
  done
}

# A Docker image from the host's static busybox: a rootfs with bin/busybox and a link per applet,
# imported on the first running robot, saved to FILE on this host, then removed from the robot.
cmd_image() {
  local file=${1:-} img=${2:-provision-check:busybox} name pid bb root a rc=0
  [[ -n $file ]] || die "usage: lab.sh image FILE [NAME]"
  name=$(running_robots | head -n 1); [[ -n $name ]] || die "no robot is running (lab.sh up 1)"
  pid=$(need_running "$name")
  bb=$(readlink -f "$(command -v busybox)" 2>/dev/null) || die "busybox is not installed (apt-get install busybox-static)"
  [[ $(LC_ALL=C ldd "$bb" 2>&1 || true) == *"not a dynamic executable"* ]] ||
    die "$bb is not statically linked (apt-get install busybox-static)"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/usr"
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  for a in $("$bb" --list); do [[ $a == busybox || $a == */* ]] || ln -s busybox "$root/bin/$a"; done
  ln -s bin "$root/sbin"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . |
    nsenter -t "$pid" --net --mount --uts -- docker import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' - "$img" >/dev/null || rc=$?
  rm -rf "$root"
  ((rc == 0)) || die "docker import on $name failed"
  nsenter -t "$pid" --net --mount --uts -- docker save "$img" >"$file.tmp" || rc=$?
  nsenter -t "$pid" --net --mount --uts -- docker rmi "$img" >/dev/null || warn "could not remove $img from $name"
  ((rc == 0)) || { rm -f "$file.tmp"; die "docker save on $name failed"; }
  mv -f "$file.tmp" "$file"
  echo "$file: $img ($(stat -c %s "$file") bytes, built on $name)"
}

# neighbour entries that make a downed robot silently drop packets (so connects time out)
pin_neighbour() { # name ip mac add|del
  local other
  if [[ $4 == add ]]; then
    ip neigh replace "$2" lladdr "$3" nud permanent dev "$BR" 2>/dev/null || true
  else
    ip neigh del "$2" dev "$BR" 2>/dev/null || true
  fi
  for other in $(running_robots); do
    [[ $other == "$1" ]] && continue
    if [[ $4 == add ]]; then
      ip -n "$(ns_of "$other")" neigh replace "$2" lladdr "$3" nud permanent dev eth0 2>/dev/null || true
    else
      ip -n "$(ns_of "$other")" neigh del "$2" dev eth0 2>/dev/null || true
    fi
  done
}

cmd_link() {
  local name veth ip mac
  name=$(resolve "${1:-}"); need_running "$name" >/dev/null
  veth=$(veth_of "$(cat "$DIR/$name/index")"); ip=$(cat "$DIR/$name/ip")
  mac=$(ip -n "$(ns_of "$name")" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
  case ${2:-} in
    down) pin_neighbour "$name" "$ip" "$mac" add; ip link set "$veth" down ;;
    up) ip link set "$veth" up; pin_neighbour "$name" "$ip" "$mac" del ;;
    *) die "usage: lab.sh link NAME down|up" ;;
  esac
}

# Traffic toward the robot (the bridge side of its veth) at RATE (tc's units, e.g. 40mbit): a slow
# radio link, and a write that lasts long enough for a fault to land in its middle. `off` removes it.
cmd_rate() {
  local name veth
  name=$(resolve "${1:-}"); need_running "$name" >/dev/null
  veth=$(veth_of "$(cat "$DIR/$name/index")")
  case ${2:-} in
    off) tc qdisc del dev "$veth" root 2>/dev/null || true ;;
    "") die "usage: lab.sh rate NAME RATE|off" ;;
    *) tc qdisc replace dev "$veth" root tbf rate "$2" burst 64kb latency 400ms ;;
  esac
}

# A host route "unreachable IP/32" beats the bridge's /24 for this host only.
cmd_hide() {
  local name ip
  name=$(resolve "${1:-}"); need_running "$name" >/dev/null; ip=$(cat "$DIR/$name/ip")
  case ${2:-} in
    on) ip route replace unreachable "$ip/32" ;;
    off) ip route del unreachable "$ip/32" 2>/dev/null || true ;;
    *) die "usage: lab.sh hide NAME on|off" ;;
  esac
}
hidden_routes() {
  local r
  for r in $(ip -o route show type unreachable 2>/dev/null | awk '$1 == "unreachable" {print $2}'); do
    in_lab_net "${r%/*}" && echo "$r"
  done
  return 0
}

cmd_sudo() {
  local name user
  name=$(resolve "${1:-}"); need_running "$name" >/dev/null; user=$(cat "$DIR/$name/user")
  case ${2:-} in
    password) touch "$DIR/sudo-password.$user" ;;
    nopasswd) rm -f "$DIR/sudo-password.$user" ;;
    *) die "usage: lab.sh sudo NAME password|nopasswd" ;;
  esac
  lock
  write_sudoers
}

sshd_pid() { local p; p=$(cat "/proc/$1/root/run/sshd.pid" 2>/dev/null) && [[ -e /proc/$p ]] && echo "$p"; }
sshd_gone() { ! sshd_listening "$1" "$2"; }

cmd_sshd() {
  local name pid ip p
  name=$(resolve "${1:-}"); pid=$(need_running "$name"); ip=$(cat "$DIR/$name/ip")
  case ${2:-} in
    stop)
      if p=$(sshd_pid "$pid"); then kill -TERM "$p" 2>/dev/null || true; fi
      wait_for 10 "$name's sshd to stop" sshd_gone "$name" "$ip"
      [[ -z ${p:-} ]] || wait_for 5 "$name's sshd to be reaped" gone "$p" || true
      rm -f "/proc/$pid/root/run/sshd.pid"
      ;;
    start)
      if ! sshd_listening "$name" "$ip"; then
        nsenter -t "$pid" --net --mount --uts -- bash "$SELF" _sshd "$name" </dev/null >/dev/null 2>&1 9>&-
      fi
      check_route "$ip"
      wait_for 20 "$name's sshd on $ip:22" sshd_listening "$name" "$ip"
      ;;
    kill)
      # every sshd of the robot at once, listener and sessions (its SFTP servers die with them)
      local pids
      pids=$(netns_pids "$name" | while read -r p; do case $(cat "/proc/$p/comm" 2>/dev/null) in sshd | sftp-server) echo "$p" ;; esac; done)
      # shellcheck disable=SC2086
      [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
      rm -f "/proc/$pid/root/run/sshd.pid"
      ;;
    *) die "usage: lab.sh sshd NAME stop|start|kill" ;;
  esac
}

dockerd_pids() { # dockerd processes in robot $1 (anchor pid)
  local mnt p
  mnt=$(readlink "/proc/$1/ns/mnt")
  for p in $(procs_named dockerd); do [[ $(readlink "/proc/$p/ns/mnt" 2>/dev/null) == "$mnt" ]] && echo "$p"; done
  return 0
}
no_dockerd() { [[ -z $(dockerd_pids "$1") ]]; }
gone() { local p; for p in "$@"; do [[ ! -e /proc/$p ]] || return 1; done; }

cmd_dockerd() {
  local name pid p
  ! sim_lab || die "a simulated lab has no dockerd (its docker is scripts/sim-docker.sh)"
  name=$(resolve "${1:-}"); pid=$(need_running "$name")
  case ${2:-} in
    stop)
      p=$(dockerd_pids "$pid")
      # shellcheck disable=SC2086
      [[ -z $p ]] || kill -TERM $p 2>/dev/null || true
      if ! wait_for 30 "$name's dockerd to stop" no_dockerd "$pid"; then
        # shellcheck disable=SC2086
        [[ -z $p ]] || kill -KILL $p 2>/dev/null || true
      fi
      # shellcheck disable=SC2086
      wait_for 5 "$name's dockerd to be reaped" gone $p || true
      ;;
    start)
      if no_dockerd "$pid"; then
        nsenter -t "$pid" --net --mount --uts -- bash "$SELF" _dockerd "$name" </dev/null >/dev/null 2>&1 9>&-
      fi
      wait_for 60 "$name's dockerd" docker_answers "$pid"
      ;;
    *) die "usage: lab.sh dockerd NAME stop|start" ;;
  esac
}

cmd_rekey() {
  local name pid d
  name=$(resolve "${1:-}"); pid=$(need_running "$name"); d=$DIR/$name
  rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$d/ssh_host_ed25519_key" </dev/null >/dev/null
  cmd_sshd "$name" stop
  cmd_sshd "$name" start
}

cmd_list() {
  local name
  for name in $(running_robots); do echo "$name $(cat "$DIR/$name/ip") $(cat "$DIR/$name/user")"; done
}

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2; exit 2; }

[[ $EUID -eq 0 ]] || die "run as root"
cmd=${1:-}; shift || true
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  exec) cmd_exec "$@" ;;
  rexec) cmd_rexec "$@" ;;
  link) cmd_link "$@" ;;
  hide) cmd_hide "$@" ;;
  rate) cmd_rate "$@" ;;
  sudo) cmd_sudo "$@" ;;
  sshd) cmd_sshd "$@" ;;
  dockerd) cmd_dockerd "$@" ;;
  sim) cmd_sim "$@" ;;
  rekey) cmd_rekey "$@" ;;
  field) cmd_field "$@" ;;
  image) cmd_image "$@" ;;
  ip) n=$(resolve "${1:-}"); cat "$DIR/$n/ip" ;;
  list) cmd_list ;;
  check-route) [[ -n ${1:-} ]] || die "usage: lab.sh check-route IP"; check_route "$1" ;;
  _init) robot_init "$1" ;;
  _pids) set +e +o pipefail; lab_pids ;; # a process gone mid-scan is no error
  _sshd) start_sshd_here "$1" ;;
  _dockerd) start_dockerd_here "$1" ;;
  ""|-h|--help|help) usage ;;
  *) die "unknown command '$cmd' (lab.sh help)" ;;
esac

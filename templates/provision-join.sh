#!/bin/sh
# provision-join: at boot, bring this robot back into its Docker Swarm from ~/swarm_tokens/.
#
# Installed by `provision swarm --install-service` as /usr/local/lib/provision/provision-join.sh and
# run by provision-join.service as the robot's user. It does nothing when the node is in a swarm
# already (active, or locked/error: for the operator to look at). A join left `pending` (docker
# keeps trying one manager that may be down) is given a moment, then cancelled and redone here.
# When the node is `inactive` it reads the one token `provision swarm` left
# in ~/swarm_tokens/ (manager_token or worker_token: the role is the file's name) and tries
# to join with each address of ~/swarm_tokens/join_addresses in turn, for a bounded number of
# rounds, since at boot the network may come up late. The token is never printed, and never an
# argument of any process (others on the robot would see it with ps): it goes in the body of a
# request to the Docker Engine API, piped into `docker system dial-stdio` (engine_join, below).
#
# Usage: provision-join.sh [HOME]
#   HOME   the home folder holding swarm_tokens/ (default: $PROVISION_HOME, else $HOME; lets root
#          run it for a user)
# Environment:
#   PROVISION_JOIN_ATTEMPTS  rounds over the manager list (default 10)
#   PROVISION_JOIN_SLEEP     seconds between rounds (default 6)
#   PROVISION_JOIN_PENDING_WAIT  seconds to wait for a join docker left pending (a manager that
#                            does not answer) before cancelling it and trying the next (default 10)
#   PROVISION_DOCKER         the docker command, e.g. "sudo -n docker" (default: docker, or
#                            sudo -n docker when this user may not use the docker socket)
# Files (under HOME/swarm_tokens/):
#   manager_token | worker_token   the join token (if both exist, worker_token: a worker never
#                                  changes the managers' quorum)
#   join_addresses                 one manager address (ip:2377) per line, tried in order
#   advertise_addr                 optional: this robot's static address for --advertise-addr
#                                  (without it docker chooses)
# Exit: 0 in a swarm (already, or joined now);
#       1 every attempt failed; 2 nothing to join with (no token or no address), or bad settings.
set -u
set -f

me=provision-join
say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { say "$2"; exit "$1"; }
# Docker's own messages, with anything that looks like a join token taken out.
hide() { sed 's/SWMTKN-[A-Za-z0-9-]*/SWMTKN-<hidden>/g' | tr '\n' ' ' | sed 's/^ *//; s/ *$//' | cut -c1-400; }

home=${1:-${PROVISION_HOME:-${HOME:-}}}
[ -n "$home" ] || die 2 "no home folder: pass it as the first argument or set PROVISION_HOME"
dir=$home/swarm_tokens
attempts=${PROVISION_JOIN_ATTEMPTS:-10}
pause=${PROVISION_JOIN_SLEEP:-6}
pending_wait=${PROVISION_JOIN_PENDING_WAIT:-10}
case $attempts in '' | *[!0-9]*) die 2 "PROVISION_JOIN_ATTEMPTS must be a whole number, not '$attempts'" ;; esac
case $pause in '' | *[!0-9]*) die 2 "PROVISION_JOIN_SLEEP must be a whole number of seconds, not '$pause'" ;; esac
case $pending_wait in '' | *[!0-9]*) die 2 "PROVISION_JOIN_PENDING_WAIT must be a whole number of seconds, not '$pending_wait'" ;; esac
[ "$attempts" -ge 1 ] || attempts=1

# ---- what to join with (checked before docker is asked anything, so a robot without tokens says so)
[ -d "$dir" ] || die 2 "no $dir: run 'provision swarm' from the operator's machine first"
if [ -f "$dir/worker_token" ]; then role=worker; elif [ -f "$dir/manager_token" ]; then role=manager; else
  die 2 "no token in $dir (neither manager_token nor worker_token): run 'provision swarm' from the operator's machine"
fi
[ -f "$dir/manager_token" ] && [ "$role" = worker ] && say "both manager_token and worker_token in $dir: joining as worker"
[ -r "$dir/${role}_token" ] || die 2 "cannot read $dir/${role}_token as $(id -un): run this as the user who owns $home"
tok=$(tr -d ' \t\r\n' <"$dir/${role}_token")
case $tok in SWMTKN-*) ;; *) die 2 "$dir/${role}_token does not hold a swarm join token: run 'provision swarm' again" ;; esac

[ -r "$dir/join_addresses" ] || die 2 "no readable $dir/join_addresses: run 'provision swarm' again"
managers=$(sed 's/#.*//; s/[[:space:]]//g' "$dir/join_addresses" | grep -v '^$' || true)
[ -n "$managers" ] || die 2 "$dir/join_addresses lists no manager: run 'provision swarm' again"
for m in $managers; do
  case $m in -* | *[!A-Za-z0-9.:_\[\]-]*) die 2 "bad manager address '$m' in $dir/join_addresses" ;; esac
done

adv=
if [ -f "$dir/advertise_addr" ]; then
  adv=$(sed 's/#.*//; s/[[:space:]]//g' "$dir/advertise_addr" | grep -v '^$' | head -n 1 || true)
  case $adv in -* | *[!A-Za-z0-9.:_\[\]-]*) die 2 "bad address '$adv' in $dir/advertise_addr" ;; esac
fi

# ---- docker: as given, or plain, or through sudo -n when this user may not use the socket
docker_cmd=${PROVISION_DOCKER:-}
why=
pick_docker() {
  [ -n "$docker_cmd" ] && return 0
  if why=$(docker info --format '{{.ID}}' 2>&1); then docker_cmd=docker; return 0; fi
  case $why in
    *"ermission denied"*)
      if sudo -n docker info --format '{{.ID}}' >/dev/null 2>&1; then docker_cmd="sudo -n docker"; return 0; fi
      die 2 "$(id -un) may not use docker and 'sudo -n docker' does not work: add the user to the docker group, or allow it passwordless sudo for docker" ;;
  esac
  return 1
}

state() { $docker_cmd info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
# docker reading stdin, for engine_join.
# shellcheck disable=SC2317 # called by engine_join
dk_in() { $docker_cmd "$@"; }
# engine_join TOKEN ADVERTISE MANAGER: `docker swarm join` through the Engine API, the token in the request
# body (provision's src/remote/scripts/engine-join.sh, put in by `provision swarm --install-service`).
# @ENGINE_JOIN@
# A join that docker gave up waiting for goes on in the background, against that one manager only,
# for ever if that manager is down. Give it PROVISION_JOIN_PENDING_WAIT seconds; then cancel it
# (`swarm leave --force`: the node is in no swarm yet) so that the next manager gets its turn.
# Returns 0 when the node made it into the swarm.
settle() {
  waited=0
  while now=$(state) && [ "$now" = pending ] && [ "$waited" -lt "$pending_wait" ]; do sleep 1; waited=$((waited + 1)); done
  [ "$now" = active ] && return 0
  if [ "$now" = pending ]; then
    say "still pending after ${pending_wait}s via $1: cancelling that attempt"
    $docker_cmd swarm leave --force >/dev/null 2>&1 || say "could not cancel the pending join: $($docker_cmd swarm leave --force 2>&1 | hide)"
  fi
  return 1
}

round=1
while :; do
  if pick_docker && now=$(state) && [ -n "$now" ]; then
    if [ "$now" = pending ]; then
      say "a join started earlier is pending: waiting up to ${pending_wait}s for it"
      settle "an earlier attempt" && { say "the earlier join went through: in the swarm now"; exit 0; }
      now=$(state)
    fi
    if [ "$now" != inactive ]; then
      say "this node is in a swarm already (state: $now): nothing to do"
      exit 0
    fi
    for m in $managers; do
      if out=$(engine_join "$tok" "$adv" "$m" 2>&1); then
        say "joined the swarm as $role via $m${adv:+ (advertising $adv)}"
        exit 0
      fi
      if settle "$m"; then
        say "joined the swarm as $role via $m${adv:+ (advertising $adv)}, after docker's own wait"
        exit 0
      fi
      say "round $round/$attempts: joining via $m failed: $(printf '%s\n' "$out" | hide)"
    done
  else
    [ -z "$docker_cmd" ] || why=$($docker_cmd info --format '{{.ID}}' 2>&1)
    say "round $round/$attempts: docker does not answer yet: $(printf '%s\n' "$why" | hide)"
  fi
  [ "$round" -lt "$attempts" ] || break
  round=$((round + 1))
  sleep "$pause"
done
die 1 "could not join the swarm as $role after $attempts round(s) over $(echo "$managers" | wc -w) manager address(es): check that a manager is up and reachable from here (and, if the tokens were rotated, run 'provision swarm' again), then run this again (at boot: systemctl restart provision-join.service)"

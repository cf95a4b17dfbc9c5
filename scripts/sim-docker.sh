#!/bin/sh
# `docker` on a robot of the simulated lab (scripts/lab.sh up N --sim-docker), bind-mounted over the
# docker binary in the robot's mount namespace. It sends the robot's name (its /etc/hostname) and its
# argv, NUL-separated, and for `system dial-stdio` its stdin, to the lab's one swarm model
# (scripts/sim-docker.mjs) over a unix socket, and evals the answer: sh printing docker's stdout and
# stderr, then `exit CODE`. Per call: this sh and one socat. lab.sh writes SOCK below.
SOCK=@SOCK@
read -r robot </etc/hostname
if [ "$1 $2" = "system dial-stdio" ]; then
  out=$({ printf '%s\0' "$robot" "$#" "$@"; cat; } | socat -t 600 -T 600 - "UNIX-CONNECT:$SOCK" 2>/dev/null)
else
  out=$(printf '%s\0' "$robot" "$#" "$@" | socat -t 600 -T 600 - "UNIX-CONNECT:$SOCK" 2>/dev/null)
fi || { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; }
eval "$out"
echo "sim-docker: no answer from the swarm model" >&2
exit 1

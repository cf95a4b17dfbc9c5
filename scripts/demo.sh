#!/usr/bin/env bash
# The demo: a lab of three robots (Anton, Ida, Otto), then `provision up` (keys, then swarm, in one
# run) as an operator would run it, then proof from the robots themselves. The lab is torn down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAB_PASSWORD=${LAB_PASSWORD:-lab-secret-pw}
lab() { bash scripts/lab.sh "$@"; }
trap 'lab down >/dev/null 2>&1 || true' EXIT
lab down >/dev/null 2>&1 || true
lab up 3
inventory=${LAB_DIR:-/var/tmp/provision-lab}/inventory.yaml

# The operator's laptop: a fresh HOME, so the demo never touches your own ~/.ssh.
HOME=$(mktemp -d /tmp/provision-demo-operator.XXXXXX)
export HOME
export PROVISION_PASSWORD=$LAB_PASSWORD        # first contact by password, as a fresh robot needs
export PROVISION_ROUTE_DEV=${LAB_BRIDGE:-provbr0}  # refuse any robot not on the lab bridge
provision() { node dist/cli.js "$@"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "provision up -i $inventory   (keys, then swarm: one login per robot)"
provision up -i "$inventory"
step "on Anton: ssh Ida hostname   (robot to robot, no password, no prompt)"
lab exec Anton ssh -o BatchMode=yes Ida hostname
step "on Ida: docker node ls"
lab exec Ida docker node ls
step "on Otto: ls -l ~/swarm_tokens"
lab exec Otto sh -c 'ls -l ~/swarm_tokens'
step "provision up again: nothing to change"
unset PROVISION_PASSWORD
provision up -i "$inventory"

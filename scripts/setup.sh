#!/usr/bin/env bash
# One-time set-up on a Debian machine, as root: the robot lab's packages (and the login shells robots
# come with: fish, zsh, tcsh; busybox for check's image, ping and iptables for field robots), shellcheck
# for `npm test`, chromium for the ui suite (a real browser, headless, driven by playwright-core), then the project's npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for cmd in dockerd:docker.io sshd:openssh-server ip:iproute2 sudo:sudo ssh:openssh-client tmux:tmux fish:fish zsh:zsh tcsh:tcsh shellcheck:shellcheck busybox:busybox-static ping:iputils-ping iptables:iptables chromium:chromium; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${cmd%%:*}" ] || need+=("${cmd##*:}")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

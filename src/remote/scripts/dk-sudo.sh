# Before a docker script run through sudo (shell.ts): defines `dk`. stdin: the sudo password line first
# (with one, `sudo -S -k` reads it for each call; without, `sudo -n` fails at once). No output.
IFS= read -r sudo_pw
dk() { if [ -n "$sudo_pw" ]; then printf '%s\n' "$sudo_pw" | sudo -S -k -p '' docker "$@"; else sudo -n docker "$@"; fi; }

# Defines `dk` and `dk_in`, docker through sudo. stdin: the sudo password line first (empty: `sudo -n`, failing at once).
IFS= read -r sudo_pw
dk() { if [ -n "$sudo_pw" ]; then printf '%s\n' "$sudo_pw" | sudo -S -k -p '' docker "$@"; else sudo -n docker "$@"; fi; }
# `dk_in`: the same, docker reading the rest of stdin (sudo -S takes the password line only).
dk_in() { if [ -n "$sudo_pw" ]; then { printf '%s\n' "$sudo_pw"; cat; } | sudo -S -k -p '' docker "$@"; else sudo -n docker "$@"; fi; }

# Defines `dk`, docker through sudo. stdin: the sudo password line first (empty: `sudo -n`, failing at once).
IFS= read -r sudo_pw
dk() { if [ -n "$sudo_pw" ]; then printf '%s\n' "$sudo_pw" | sudo -S -k -p '' docker "$@"; else sudo -n docker "$@"; fi; }

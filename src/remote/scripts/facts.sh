# A robot's facts, with the token files' digests (a re-run sends nothing where they are up to date).
# $1: the token folder; $2…: the token files. No stdin. Output (parseFacts): KEY=VALUE lines: tokens_dir,
# token_file (NAME MODE SHA256), tokens_tmp, arch, cpus, memkb, hostname, engine, version and swarm (JSON) or docker_error.
d="$HOME/$1"
shift
if [ -d "$d" ]; then
  echo "tokens_dir=$(stat -c %a "$d")"
  for f in "$@"; do [ -f "$d/$f" ] && echo "token_file=$f $(stat -c %a "$d/$f") $(sha256sum < "$d/$f" | cut -c1-64)"; done
  ls "$d"/*.tmp.* >/dev/null 2>&1 && echo "tokens_tmp=1"
fi
echo "arch=$(uname -m)"
echo "cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
echo "memkb=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
echo "hostname=$(hostname)"
if ! command -v docker >/dev/null 2>&1; then echo "docker_error=docker is not installed on this robot"; exit 0; fi
if out=$(dk info --format 'engine={{.ID}}{{println}}version={{.ServerVersion}}{{println}}{{json .Swarm}}' 2>&1) && printf '%s\n' "$out" | grep -q '^{'; then
  printf '%s\n' "$out" | grep -E '^(engine|version)=' | head -n 2
  printf 'swarm=%s\n' "$(printf '%s\n' "$out" | grep '^{' | head -n 1)"
else
  printf 'docker_error=%s\n' "$(printf '%s' "$out" | tr '\n' ' ' | cut -c1-300)"
fi

# Defines `engine_join TOKEN ADVERTISE MANAGER`: what `docker swarm join --token TOKEN --advertise-addr ADVERTISE
# MANAGER` does, through the Engine API, so that the token is an argument of no process (any local user reads
# those with ps; audit and sudo logs keep them). The request, the token in its JSON body, goes from `printf` (a
# shell builtin) through a pipe into `dk_in system dial-stdio`, which carries it to the engine's socket (through
# sudo where the caller's dk_in does). Used by join.sh and, put in at install, by templates/provision-join.sh.
# ADVERTISE may be empty (docker picks). Returns 0 once joined; else prints docker's error as its CLI does
# ("Error response from daemon: …") on stderr and returns 1: after docker's timeout the join may go on in the
# background (state pending), as with the CLI.
engine_join() {
  for v in "$1" "$2" "$3"; do
    case $v in *[!A-Za-z0-9.:_\[\]-]*) echo "the join token or an address holds a character that none holds" >&2; return 1 ;; esac
  done
  # ListenAddr and Availability: the CLI's defaults. The path has no API version: the engine takes its own.
  body="{\"JoinToken\":\"$1\",\"ListenAddr\":\"0.0.0.0:2377\",\"AdvertiseAddr\":\"$2\",\"RemoteAddrs\":[\"$3\"],\"Availability\":\"active\"}"
  # HTTP/1.0: the engine answers with a Content-Length (never chunked) and closes the connection.
  answer=$(printf 'POST /swarm/join HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' \
    "${#body}" "$body" | dk_in system dial-stdio) || return 1
  [ -n "$answer" ] || { echo "the Docker engine gave no answer to the join" >&2; return 1; }
  status=${answer#HTTP/* }
  status=${status%%[!0-9]*}
  [ "$status" = 200 ] && return 0
  # The error body is {"message":"…"} in JSON: its common escapes undone.
  msg=$(printf '%s\n' "$answer" | sed -n 's/^{"message":"\(.*\)"}$/\1/p' |
    sed 's/\\"/"/g; s/\\u003c/</g; s/\\u003e/>/g; s/\\u0026/\&/g; s/\\\\/\\/g')
  echo "Error response from daemon: ${msg:-$(printf '%s\n' "$answer" | head -n 1 | tr -d '\r')}" >&2
  return 1
}

# A new key pair $2, comment $1 (a leftover is replaced). No stdin. Output: the public key.
umask 077
cd || exit 1
in_home "$2" && in_home "$2.pub" || exit 1
rm -f "$2" "$2.pub"
ssh-keygen -q -t ed25519 -N '' -C "$1" -f "$2" </dev/null >/dev/null || exit 3
cat "$2.pub"

# Remove the key pair $1 of new-key.sh. No stdin, no output.
cd || exit 1
in_home "$1" && in_home "$1.pub" || exit 1
rm -f "$1" "$1.pub"

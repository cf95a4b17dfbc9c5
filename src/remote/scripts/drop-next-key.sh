# Remove the key pair $1 of new-key.sh. No stdin, no output.
cd || exit 1
rm -f "$1" "$1.pub"

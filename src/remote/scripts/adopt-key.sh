# The next key $1 becomes the robot's key $2; the old .pub goes first, so a .pub never mismatches its key
# (ssh would fail the login). No stdin, no output.
umask 077
cd || exit 1
for p in "$1" "$1.pub" "$2" "$2.pub"; do in_home "$p" || exit 1; done
{ [ -f "$1" ] && [ -f "$1.pub" ]; } || { echo "the new key ~/$1 is missing" >&2; exit 3; }
{ cp "$1" "$2.provision-tmp-$$" && cp "$1.pub" "$2.pub.provision-tmp-$$"; } || exit 1
rm -f "$2.pub"
mv -f "$2.provision-tmp-$$" "$2" && mv -f "$2.pub.provision-tmp-$$" "$2.pub"

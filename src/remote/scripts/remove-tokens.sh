# Remove the token files $3… from ~/$2, and the folder when empty. $1: 1 for a dry run. No stdin.
# Output: each file removed (or to remove), a line each.
cd || exit 1
dry=$1 dir=$2
shift 2
in_home "$dir" || exit 1
for f in "$@"; do [ -f "$dir/$f" ] && { echo "$f"; [ "$dry" = 1 ] || rm -f "$dir/$f"; }; done
[ "$dry" = 1 ] || rmdir "$dir" 2>/dev/null
exit 0

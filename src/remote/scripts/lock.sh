# Take the run lock ~/$4 (mkdir is atomic) for run $1; one older than $2 s, or of the dead run $3, is taken
# over. $5: exit code when not locked. No stdin. Output: "provision-lock locked|taken-over OWNER|held AGE OWNER|not-linux OS".
cd || exit 1
os=$(uname -s)
[ "$os" = Linux ] || { echo "provision-lock not-linux $os"; exit "$5"; }
now=$(date +%s)
if mkdir "$4" 2>/dev/null; then printf '%s %s\n' "$now" "$1" > "$4/owner"; echo "provision-lock locked"; exit 0; fi
read -r since who < "$4/owner" 2>/dev/null
if [ -z "$since" ] || [ $((now - since)) -gt "$2" ] || { [ -n "$3" ] && [ "$who" = "$3" ]; }; then printf '%s %s\n' "$now" "$1" > "$4/owner"; echo "provision-lock taken-over $who"; exit 0; fi
echo "provision-lock held $((now - since)) $who"
exit "$5"

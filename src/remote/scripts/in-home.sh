# in_home PATH: succeeds when PATH (relative to the home, the current directory) and every folder on the
# way to it resolve inside the home; else says which symlink leads out (or does not resolve) on stderr.
# A symlink inside the home (a dotfiles repository) is fine: it is written through. Prepended by
# src/remote/scripts.ts to every script that calls it.
in_home() {
  ih_home=$(pwd -P) ih_rest=$1 ih_path=
  while [ -n "$ih_rest" ]; do
    case $ih_rest in
      */*) ih_part=${ih_rest%%/*} ih_rest=${ih_rest#*/} ;;
      *) ih_part=$ih_rest ih_rest= ;;
    esac
    ih_path=${ih_path:+$ih_path/}$ih_part
    [ -L "$ih_path" ] || continue
    ih_real=$(readlink -f -- "$ih_path") || { echo \~/"$ih_path is a symlink that does not resolve" >&2; return 1; }
    case $ih_real in
      "$ih_home"/*) ;;
      *) echo \~/"$ih_path is a symlink to $ih_real, outside the home: provision does not write through it" >&2; return 1 ;;
    esac
  done
}

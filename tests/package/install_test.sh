#!/usr/bin/env bash
# `cmake --install` into a temporary prefix puts everything where Debian's
# layout says (docs/service.md "What is installed"), and the installed
# programs work from there: ftserve serves, ftsend, ftls and ftget talk to
# it, and ft-backup finds the ftsend installed beside it with no ftsend on
# PATH.
#   usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
  cat "$work/install.log"
  fail "cmake --install"
}

for path in bin/ftserve bin/ftsend bin/ftget bin/ftls bin/ft-backup; do
  [[ -x $prefix/$path ]] || fail "$path not installed (or not executable)"
done
for command in ftserve ftsend ftget ftls ft-backup; do
  page=$prefix/share/man/man1/$command.1.gz
  [[ -s $page ]] || fail "no man page $page"
  # The page is the program's own --help: its first option must be in it.
  zcat "$page" | grep -q -- 'help' || fail "$page does not describe --help"
  [[ -s $prefix/share/bash-completion/completions/$command ]] ||
    fail "no bash completion for $command"
done
for path in lib/systemd/system/ftserve.service lib/systemd/system/ftserve.socket \
  etc/ft/ftserve.conf share/doc/ft/README.md share/doc/ft/server.md share/doc/ft/service.md \
  share/doc/ft/copyright share/doc/ft/changelog.Debian.gz; do
  [[ -s $prefix/$path ]] || fail "$path not installed"
done
# The unit names the ftserve of this prefix, not the configured one.
grep -q "^ExecStart=$prefix/bin/ftserve " "$prefix/lib/systemd/system/ftserve.service" ||
  fail "ExecStart does not run $prefix/bin/ftserve"
# The completion script, loaded as bash-completion loads it, registers the
# five commands and completes options from the installed program's --help.
completion() {
  bash -c '
    source /usr/share/bash-completion/bash_completion
    source "$0"
    complete -p ft-backup >/dev/null || exit 1
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    _ft "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' "$prefix/share/bash-completion/completions/ftsend" "$@"
}
[[ $(completion "$prefix/bin/ftsend" --chunk-s) == --chunk-size ]] ||
  fail "completion of ftsend --chunk-s: $(completion "$prefix/bin/ftsend" --chunk-s)"
[[ $(completion "$prefix/bin/ftserve" keys a) == add ]] || fail "completion of ftserve keys a"

# No ftsend on PATH: ft-backup must find the installed one itself.
export PATH=/usr/bin:/bin
! command -v ftsend >/dev/null || fail "an ftsend on PATH would hide what this test checks"
"$prefix/bin/ftserve" --version | grep -q '^ftserve ' || fail "ftserve --version"

mkdir -p "$work/root" "$work/source/docs" "$work/fetched"
printf 'installed\n' >"$work/source/docs/a.txt"
"$prefix/bin/ftserve" --root "$work/root" --listen 127.0.0.1:0 \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
address=
for _ in $(seq 1 200); do
  address=$(sed -n 's/^listening on //p' "$work/server.out")
  [[ -n $address ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err"; fail "ftserve exited"; }
  sleep 0.05
done
[[ -n $address ]] || fail "ftserve printed no listening line in 10 s"

"$prefix/bin/ftsend" "$work/source/docs/a.txt" "$address/" || fail "installed ftsend"
"$prefix/bin/ftls" "$address/" | grep -q 'a.txt' || fail "installed ftls does not list a.txt"
"$prefix/bin/ftget" "$address/a.txt" "$work/fetched/" || fail "installed ftget"
cmp "$work/source/docs/a.txt" "$work/fetched/a.txt" || fail "ftget fetched other bytes"
"$prefix/bin/ft-backup" --fixed "$work/source/docs" "$address/backup" >"$work/backup.out" ||
  { cat "$work/backup.out"; fail "installed ft-backup"; }
grep -q 'exit=0' "$work/backup.out" || fail "ft-backup summary: $(cat "$work/backup.out")"
cmp "$work/source/docs/a.txt" "$work/root/backup/current/docs/a.txt" ||
  fail "ft-backup did not land docs/a.txt"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
((status == 0)) || fail "ftserve exited $status on SIGTERM"
echo "install test: ok ($prefix)"

#!/usr/bin/env bash
# The .deb, end to end on this machine: scripts/package builds it; lintian
# finds no error; its dependencies come from dpkg-shlibdeps; `dpkg -i`
# creates the user _ft, /etc/ft/keys and /var/lib/ft and starts nothing;
# the installed ftserve, run as _ft with the unit's own command line, serves
# a client with a key; `dpkg --purge` leaves nothing but the served data.
# Whatever happens, the trap purges the package and removes what it made,
# so the machine is left as it was.
#   usage: deb_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$1

skip() {
  printf 'SKIP: %s\n' "$*"
  exit 77
}
((EUID == 0)) || skip "installing a package needs root"
command -v dpkg >/dev/null || skip "no dpkg"
if dpkg-query -W -f='${Status}' ft 2>/dev/null | grep -q 'installed'; then
  skip "an ft package is installed already; this test will not replace it"
fi
had_user=0
getent passwd _ft >/dev/null && had_user=1

work=$(mktemp -d)
chmod 0755 "$work"  # _ft reads the credential copy below it
server_pid=
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
  dpkg --purge ft >/dev/null 2>&1 || true
  rm -rf /var/lib/ft
  if ((had_user == 0)) && getent passwd _ft >/dev/null; then
    userdel _ft 2>/dev/null || true
    groupdel _ft 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

bash "$source_dir/scripts/package" >"$work/package.log" 2>&1 || {
  tail -50 "$work/package.log"
  fail "scripts/package"
}
deb=$(tail -1 "$work/package.log")
[[ -f $deb ]] || fail "scripts/package named no .deb: $deb"
echo "package: $deb"

# lintian's errors fail the test; its warnings are shown.
lintian --fail-on error "$deb" >"$work/lintian" 2>&1 || {
  cat "$work/lintian"
  fail "lintian reports errors"
}
cat "$work/lintian"

depends=$(dpkg-deb -f "$deb" Depends)
for library in libc6 libssl3 libuv1 libxxhash0 libsystemd0 adduser; do
  grep -q "$library" <<<"$depends" || fail "Depends lacks $library: $depends"
done
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/ft/ftserve.conf "$work/control/conffiles" || fail "ftserve.conf is not a conffile"

dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i"; }
dpkg -L ft >"$work/files"
getent passwd _ft >/dev/null || fail "postinst made no user _ft"
[[ $(stat -c '%U %a' /etc/ft/keys) == "root 600" ]] || fail "/etc/ft/keys: $(stat -c '%U %a' /etc/ft/keys)"
[[ $(stat -c '%U %a' /var/lib/ft) == "_ft 750" ]] || fail "/var/lib/ft: $(stat -c '%U %a' /var/lib/ft)"
! pgrep -u _ft >/dev/null || fail "a process of _ft runs after dpkg -i: nothing may start"
for command in ftserve ftsend ftget ftls ft-backup; do
  [[ -x /usr/bin/$command ]] || fail "/usr/bin/$command not installed"
  [[ -f /usr/share/man/man1/$command.1.gz ]] || fail "no man page for $command"
done

# The units as installed, naming /usr/bin/ftserve and the installed pages.
(cd /lib/systemd/system && systemd-analyze verify ftserve.socket ftserve.service) \
  >"$work/verify" 2>&1 || true
[[ ! -s $work/verify ]] || { cat "$work/verify"; fail "systemd-analyze verify of the installed units"; }

# A client key, made as the admin would (docs/service.md).
/usr/bin/ftserve keys add tester --keys /etc/ft/keys >"$work/tester.key" 2>"$work/keys.err" ||
  { cat "$work/keys.err"; fail "ftserve keys add"; }
chmod 600 "$work/tester.key"

# The unit's ExecStart, with what systemd would provide: the credential
# (a copy of the keys file only _ft can read) and, standing in for
# ftserve.socket, a loopback address on a free port.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/ftserve.service)
[[ $exec_start == "/usr/bin/ftserve --root /var/lib/ft --keys \${CREDENTIALS_DIRECTORY}/keys"* ]] ||
  fail "unexpected ExecStart: $exec_start"
credentials=$work/credentials
install -d -o _ft -g _ft -m 0500 "$credentials"
install -o _ft -g _ft -m 0400 /etc/ft/keys "$credentials/keys"
read -r -a argv <<<"${exec_start//\$\{CREDENTIALS_DIRECTORY\}/$credentials}"
setpriv --reuid=_ft --regid=_ft --init-groups -- "${argv[@]}" --listen 127.0.0.1:0 \
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
printf 'kept after purge\n' >"$work/data.txt"
/usr/bin/ftsend --key-file "$work/tester.key" "$work/data.txt" "$address/" ||
  fail "ftsend to the packaged server"
/usr/bin/ftls --key-file "$work/tester.key" "$address/" | grep -q data.txt ||
  fail "ftls does not list data.txt"
[[ $(stat -c '%U %a' /var/lib/ft/data.txt) == "_ft 640" ]] ||
  fail "uploaded file: $(stat -c '%U %a' /var/lib/ft/data.txt), want _ft 640 (--umask 027)"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
((status == 0)) || fail "ftserve exited $status on SIGTERM: $(cat "$work/server.err")"

dpkg --purge ft >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
left=()
while read -r path; do
  [[ -e $path && ! -d $path ]] && left+=("$path")
done <"$work/files"
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
[[ ! -e /etc/ft ]] || fail "/etc/ft left after purge: $(ls -A /etc/ft)"
[[ ! -e /usr/share/doc/ft ]] || fail "/usr/share/doc/ft left after purge"
[[ $(ls -A /var/lib/ft) == data.txt ]] || fail "/var/lib/ft after purge: $(ls -A /var/lib/ft)"
echo "deb test: ok"

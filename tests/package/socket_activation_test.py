#!/usr/bin/env python3
"""ftserve under socket activation, as ftserve.socket runs it, without a
running systemd: systemd-socket-activate holds the listening socket (bound
here on 127.0.0.1, port 0, and passed to it through LISTEN_FDS), starts
ftserve at the first connection and hands the socket over. ftserve must
serve that socket with --keys, print its usual "listening on" line, tell the
notify socket READY=1 (with its STATUS), ping the watchdog, and say
STOPPING=1 on SIGTERM before it exits 0. An explicit --listen together with
an inherited socket is a usage error (exit 2); two sockets, or a UDP one,
exit 4.

usage: socket_activation_test.py FTSERVE FTLS
"""
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

FTSERVE, FTLS = sys.argv[1], sys.argv[2]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message, file=sys.stderr)
    return condition


def activate(listener, argv, env):
    """Runs argv under systemd-socket-activate, which inherits `listener`
    as descriptor 3; it execs, so the child's pid is ftserve's."""
    passed = ["-E", "NOTIFY_SOCKET", "-E", "WATCHDOG_USEC", "-E", "ASAN_OPTIONS",
              "-E", "UBSAN_OPTIONS"]
    command = ('LISTEN_PID=$$ LISTEN_FDS=1 exec systemd-socket-activate "$@"')
    fd = listener.fileno()
    # In the child only: descriptor 3 here may be another socket of ours.
    return subprocess.Popen(["sh", "-c", command, "sh", *passed, "--", *argv],
                            preexec_fn=lambda: os.dup2(fd, 3), pass_fds=[3], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_line(stream, deadline):
    """One line from a pipe, or "" when the deadline passes first."""
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        byte = os.read(stream.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode(errors="replace").strip()


def notifications(notify, wanted, deadline):
    """Datagrams from the notify socket until one holds `wanted`."""
    seen = []
    while time.monotonic() < deadline:
        notify.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = notify.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(message)
        if wanted in message.split("\n"):
            break
    return seen


def main():
    work = tempfile.TemporaryDirectory()
    root = os.path.join(work.name, "root")
    os.mkdir(root)
    with open(os.path.join(root, "hello.txt"), "w") as f:
        f.write("served through the socket systemd passed\n")
    keys = os.path.join(work.name, "keys")
    client_key = os.path.join(work.name, "tester.key")
    with open(client_key, "wb") as out:
        subprocess.run([FTSERVE, "keys", "add", "tester", "--keys", keys], stdout=out,
                       stderr=subprocess.DEVNULL, check=True, timeout=60)
    os.chmod(client_key, 0o600)

    notify_path = os.path.join(work.name, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")

    # Served with keys, as the shipped unit does.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    server = activate(listener, [FTSERVE, "--root", root, "--keys", keys], env)
    listener.close()
    try:
        # Nothing runs before the first connection: the listing starts ftserve.
        listing = subprocess.run([FTLS, "--key-file", client_key, f"127.0.0.1:{port}/"],
                                 capture_output=True, text=True, timeout=60)
        check(listing.returncode == 0 and "hello.txt" in listing.stdout,
              f"ftls through the inherited socket: exit {listing.returncode}, "
              f"out {listing.stdout!r}, err {listing.stderr!r}")
        deadline = time.monotonic() + 30
        line = read_line(server.stdout, deadline)
        check(line == f"listening on 127.0.0.1:{port}", f"ready line {line!r}")
        seen = notifications(notify, "READY=1", deadline)
        check(any("READY=1" in m and f"STATUS=listening on 127.0.0.1:{port}" in m for m in seen),
              f"no READY=1 with its STATUS on the notify socket: {seen!r}")
        # WATCHDOG_USEC=400000: a ping every 200 ms.
        seen = notifications(notify, "WATCHDOG=1", time.monotonic() + 5)
        check(any("WATCHDOG=1" in m for m in seen), f"no watchdog ping: {seen!r}")
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=30)
        err = server.stderr.read().decode(errors="replace")
        check(status == 0, f"ftserve exited {status} on SIGTERM: {err}")
        seen = notifications(notify, "STOPPING=1", time.monotonic() + 5)
        check(any("STOPPING=1" in m for m in seen), f"no STOPPING=1: {seen!r}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    # --listen as well as the inherited socket: refused, not chosen between.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    server = activate(listener, [FTSERVE, "--root", root, "--listen", "127.0.0.1:0"], env)
    listener.close()
    try:
        probe = socket.create_connection(("127.0.0.1", port), timeout=10)
        status = server.wait(timeout=30)
        probe.close()
        err = server.stderr.read().decode(errors="replace")
        check(status == 2, f"--listen with an inherited socket: exit {status}, want 2")
        check("systemd passed a listening socket" in err, f"message: {err!r}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    # What ftserve cannot serve, passed straight (no connection needed):
    # two sockets, and a UDP one. Both exit 4 and say why.
    for sockets, why in (([socket.socket(), socket.socket()], "2 sockets passed by systemd"),
                         ([socket.socket(type=socket.SOCK_DGRAM)], "not a listening TCP socket")):
        for s in sockets:
            s.bind(("127.0.0.1", 0))
            if s.type == socket.SOCK_STREAM:
                s.listen(1)
        fds = [s.fileno() for s in sockets]

        def move_to_3():
            # In the child only: descriptors 3, 4 here may be other sockets of ours.
            moved = [os.dup(fd) for fd in fds]
            for target, fd in enumerate(moved, 3):
                os.dup2(fd, target)

        server = subprocess.Popen(
            ["sh", "-c", f'LISTEN_PID=$$ LISTEN_FDS={len(fds)} exec "$@"', "sh", FTSERVE,
             "--root", root], preexec_fn=move_to_3, pass_fds=list(range(3, 3 + len(fds))),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            status = server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        err = server.stderr.read().decode(errors="replace")
        check(status == 4 and why in err, f"{why}: exit {status}, want 4; stderr {err!r}")
        for s in sockets:
            s.close()

    if failures:
        return 1
    print("socket activation test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Host side of bench/net.sh: the servers a guest on `--net user` talks to, at 10.0.2.2.

  source  sends SIZE bytes to whoever connects, then closes   (host -> guest)
  done    the guest connects once it has read them all         (ends the host -> guest time)
  sink    reads SIZE bytes, then closes                        (guest -> host)
  echo    sends one byte ROUNDS times, each after the previous came back (TCP round trip)

Prints the four port numbers on one line, then, when the guest is done, one line of figures:
  h2g_MBps g2h_MBps rtt_us_median
With --loopback it measures the host's own loopback instead (the peer: no VM at all)."""
import socket, statistics, sys, threading, time

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 32 << 20
ROUNDS = 200
CHUNK = 1 << 16
times = {}


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def source(s):
    c, _ = s.accept()
    times["h2g_start"] = time.monotonic()
    buf = b"\0" * CHUNK
    left = SIZE
    while left:
        left -= c.send(buf[: min(left, CHUNK)])
    c.close()


def done(s):
    c, _ = s.accept()
    times["h2g_end"] = time.monotonic()
    c.close()


def sink(s):
    c, _ = s.accept()
    got = 0
    while got < SIZE:
        d = c.recv(CHUNK)
        if not d:
            break
        if got == 0:
            times["g2h_start"] = time.monotonic()
        got += len(d)
    times["g2h_end"] = time.monotonic()
    times["g2h_bytes"] = got
    c.close()


def echo(s):
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        c.send(b"x")
        if not c.recv(1):
            break
        rtts.append(time.monotonic() - t0)
    times["rtts"] = rtts
    c.close()


def loopback_client(ports):
    """The guest's part, run on the host itself."""
    src, dn, snk, ech = ports
    c = socket.create_connection(("127.0.0.1", src))
    while c.recv(CHUNK):
        pass
    c.close()
    socket.create_connection(("127.0.0.1", dn)).close()
    c = socket.create_connection(("127.0.0.1", snk))
    buf = b"\0" * CHUNK
    try:
        while True:
            c.sendall(buf)
    except OSError:
        pass
    c = socket.create_connection(("127.0.0.1", ech))
    while True:
        d = c.recv(1)
        if not d:
            break
        c.send(d)


def main():
    socks = [listener() for _ in range(4)]
    ports = [s.getsockname()[1] for s in socks]
    print(*ports, flush=True)
    threads = [threading.Thread(target=f, args=(s,), daemon=True)
               for f, s in zip((source, done, sink, echo), socks)]
    for t in threads:
        t.start()
    if "--loopback" in sys.argv:
        threading.Thread(target=loopback_client, args=(ports,), daemon=True).start()
    for t in threads:
        t.join()
    mb = 1 << 20
    h2g = SIZE / mb / (times["h2g_end"] - times["h2g_start"])
    g2h = times["g2h_bytes"] / mb / max(times["g2h_end"] - times["g2h_start"], 1e-9)
    rtt = statistics.median(times["rtts"]) * 1e6 if times.get("rtts") else float("nan")
    print(f"{h2g:.1f} {g2h:.1f} {rtt:.0f}", flush=True)


main()

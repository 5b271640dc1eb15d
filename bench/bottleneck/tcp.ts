// The competing TCP flow: a Python (stdlib only) sender that forces TCP_CONGESTION=cubic on its
// own socket (the host default is bbr and a namespace cannot change the default), and a Python
// sink. Run as `python3 -c TCP_PY send|sink <host> <port> <maxSeconds>` inside a namespace.
// Output lines as in worker.ts: READY <port>, CONNECTED <t> <cc>, B <t> <bytes>, ERROR <msg>.
// Both exit by themselves after <maxSeconds>; the parent normally sends SIGTERM first.
export const TCP_PY = String.raw`
import signal, socket, sys, time

def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def now_ms():
    return time.time() * 1000.0

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
role, host, port, max_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + max_s

try:
    if role == "sink":
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
        srv.listen(1)
        srv.settimeout(max(0.1, deadline - time.monotonic()))
        out("READY %d" % srv.getsockname()[1])
        conn, _ = srv.accept()
        conn.settimeout(0.1)
        buf = bytearray(256 * 1024)
        total = 0
        next_report = time.monotonic()
        while time.monotonic() < deadline:
            try:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                total += n
            except socket.timeout:
                pass
            t = time.monotonic()
            if t >= next_report:
                out("B %.1f %d" % (now_ms(), total))
                next_report = t + 0.1
        out("B %.1f %d" % (now_ms(), total))
    elif role == "send":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        cc = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()
        if cc != "cubic":
            raise RuntimeError("TCP_CONGESTION is %r, not cubic" % cc)
        s.settimeout(5)
        s.connect((host, port))
        out("CONNECTED %.1f %s" % (now_ms(), cc))
        s.settimeout(0.5)
        chunk = b"\x5a" * (64 * 1024)
        while time.monotonic() < deadline:
            try:
                s.send(chunk)
            except socket.timeout:
                pass
    else:
        raise RuntimeError("unknown role " + role)
except SystemExit:
    raise
except BaseException as e:
    out("ERROR %s: %s" % (type(e).__name__, e))
    sys.exit(1)
`;

#!/usr/bin/python3
"""libtorrent peer driven by test/interop/libtorrent.test.ts.

Run with Debian's /usr/bin/python3 (the one that has python3-libtorrent).

  lt_peer.py seed DIR [--size BYTES] [--seed N] [--tcp] [--verbose]
      Writes DIR/data.bin (seeded-random), makes a v1-only torrent of it
      (DIR/data.torrent), seeds it on 127.0.0.1 and prints ONE JSON line:
      {"event":"ready","port",...,"infoHash","pieceLength","length",
       "pieceHashes":[hex...],"sha256","dataPath","torrentPath"}
      then runs until stdin closes or SIGTERM/SIGINT.
      --data PATH: seed that existing file instead of writing DIR/data.bin.
      --connect-port P: also connect out to 127.0.0.1:P (once the seed is up;
      retried only until the first connection is made).
      --report-peers: also print {"event":"peer_disconnected","error",
      "errorValue","category","op"} JSON lines as the alerts arrive (test/interop/reset.test.ts times them).

  lt_peer.py download DIR --data PATH --peer-port P [--timeout S] [--tcp]
      Makes a v1-only torrent of PATH (a file the JS side seeds), prints
      {"event":"torrent","infoHash",...}, downloads it from 127.0.0.1:P into
      DIR/dl, then prints {"event":"done","ok",...,"sha256","seconds"} and exits
      0 if the downloaded file hashes equal to PATH, else 1 ("seconds": from the
      first connect_peer to the last piece). Also gives up when stdin closes or
      on SIGTERM/SIGINT.
      --torrent T: download the torrent file T (made by the other client)
      instead of making one of PATH; PATH is then only the expected content.

  Both modes, --peer-info: also print, as they happen,
      {"event":"peer","ip","port","utp","outgoing","client"} for every peer
      connection the session has (from get_peer_info(); "utp" is the
      peer_info utp_socket flag), and {"event":"connection","alert","utp",...}
      for every incoming_connection_alert / peer_connect_alert, so a test can
      prove no peer used TCP (test/interop/webtorrent.test.ts).

Only uTP is enabled; --tcp enables only TCP instead (used to prove the
BitTorrent side without microtp). Alerts go to stderr; stdout carries only JSON lines.
"""
import argparse
import hashlib
import json
import os
import random
import signal
import sys
import threading
import time

import libtorrent as lt

PIECE_LENGTH = 256 * 1024
HOST = '127.0.0.1'


T0 = time.monotonic()


def log(*args):
    print('[lt_peer %.3f]' % (time.monotonic() - T0), *args, file=sys.stderr, flush=True)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def make_session(tcp, verbose):
    mask = lt.alert.category_t.all_categories if verbose else (
        lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.connect_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.performance_warning)
    settings = {
        # Port 0: let the OS pick; libtorrent binds TCP and UDP on the same port.
        'listen_interfaces': HOST + ':0',
        'enable_incoming_tcp': tcp,
        'enable_outgoing_tcp': tcp,
        # --tcp is all-TCP rather than TCP+uTP: libtorrent tries uTP first
        # on outgoing connections, which would just time out against node:net.
        'enable_incoming_utp': not tcp,
        'enable_outgoing_utp': not tcp,
        # No discovery/port mapping: the only traffic is to our loopback peer.
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_ip_notifier': False,
        # Loopback peers all share 127.0.0.1; do not treat that as a duplicate
        # and do not apply any rate limiting to them.
        'allow_multiple_connections_per_ip': True,
        'ignore_limits_on_local_network': True,
        'rate_limit_ip_overhead': False,
        'upload_rate_limit': 0,
        'download_rate_limit': 0,
        # bt-wire.ts speaks plaintext only; without this libtorrent's first
        # outgoing attempt is an MSE handshake that the JS peer hangs up on.
        'out_enc_policy': int(lt.enc_policy.disabled),
        'in_enc_policy': int(lt.enc_policy.disabled),
        # The JS peer is the only one; never give up on it quickly.
        'min_reconnect_time': 1,
        'peer_connect_timeout': 10,
        'user_agent': 'microtp-interop',
        'alert_mask': mask,
    }
    return lt.session(settings)


REPORT_PEERS = False
PEER_INFO = False
# peer_info::utp_socket is bit 17 in libtorrent 2.0 (interesting = bit 0, ...,
# rc4_encrypted = bit 19); Debian's 2.0.8 python binding exports its neighbours
# but not this one.
UTP_SOCKET = int(getattr(lt.peer_info, 'utp_socket', 1 << 17))
SEEN_PEERS = {}


def drain_alerts(ses):
    for a in ses.pop_alerts():
        log(type(a).__name__ + ':', a.message())
        if PEER_INFO and isinstance(a, lt.incoming_connection_alert):
            # socket_type_t.utp and .udp are the same value (3) in the binding.
            emit({'event': 'connection', 'alert': 'incoming_connection',
                  'utp': int(a.socket_type) == int(lt.socket_type_t.utp),
                  'socketType': int(a.socket_type), 'endpoint': '%s:%d' % a.endpoint})
        if PEER_INFO and isinstance(a, lt.peer_connect_alert):
            # Raised for outgoing and incoming peers; the binding has no socket_type
            # here, the message ends with it: "... connection to peer (uTP)".
            emit({'event': 'connection', 'alert': 'peer_connect', 'utp': a.message().endswith('(uTP)'),
                  'message': a.message(), 'endpoint': '%s:%d' % a.endpoint})
        if not REPORT_PEERS:
            continue
        if isinstance(a, lt.peer_disconnected_alert):
            emit({'event': 'peer_disconnected', 'error': a.error.message(),
                  'errorValue': a.error.value(), 'category': a.error.category().name(),
                  'op': str(a.op)})


def track_peers(h):
    """--peer-info: one "peer" line per connection, the first time we see it."""
    if not PEER_INFO:
        return
    for p in h.get_peer_info():
        key = '%s:%d' % tuple(p.ip)
        if key in SEEN_PEERS:
            continue
        SEEN_PEERS[key] = bool(int(p.flags) & UTP_SOCKET)
        emit({'event': 'peer', 'ip': p.ip[0], 'port': p.ip[1], 'utp': SEEN_PEERS[key],
              'outgoing': bool(int(p.flags) & int(lt.peer_info.outgoing_connection)),
              'client': p.client.decode('utf-8', 'replace') if isinstance(p.client, bytes) else p.client, 'flags': int(p.flags)})


def wait_listening(ses, timeout=10.0):
    """The OS picks the port; wait until the listen sockets are up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for a in ses.pop_alerts():
            log(type(a).__name__ + ':', a.message())
            if isinstance(a, lt.listen_failed_alert):
                raise RuntimeError('listen failed: ' + a.message())
        port = ses.listen_port()
        if ses.is_listening() and port:
            return port
        time.sleep(0.05)
    raise RuntimeError('session never started listening')


def make_torrent(data_path):
    """v1-only torrent (SHA-1 pieces, 20-byte info hash) of a single file."""
    fs = lt.file_storage()
    lt.add_files(fs, data_path)
    ct = lt.create_torrent(fs, PIECE_LENGTH, flags=lt.create_torrent.v1_only)
    ct.set_creator('microtp interop test')
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(data_path)))
    entry = ct.generate()
    ti = lt.torrent_info(entry)
    meta = {
        'infoHash': str(ti.info_hashes().v1),
        'pieceLength': ti.piece_length(),
        'length': ti.total_size(),
        'pieceHashes': [ti.hash_for_piece(i).hex() for i in range(ti.num_pieces())],
        'name': ti.name(),
    }
    return ti, lt.bencode(entry), meta


def wait_for_stop():
    """Block until stdin reaches EOF (parent died/closed it) or a signal."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def read_stdin():
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered
        # reader makes interpreter shutdown abort ("could not acquire lock").
        try:
            while os.read(0, 4096):
                pass
        finally:
            stop.set()
    threading.Thread(target=read_stdin, daemon=True).start()
    return stop


def cmd_seed(args):
    os.makedirs(args.dir, exist_ok=True)
    if args.data:
        data_path = args.data
    else:
        data_path = os.path.join(args.dir, 'data.bin')
        with open(data_path, 'wb') as f:
            f.write(random.Random(args.seed).randbytes(args.size))
    ti, torrent_bytes, meta = make_torrent(data_path)
    torrent_path = os.path.join(args.dir, 'data.torrent')
    with open(torrent_path, 'wb') as f:
        f.write(torrent_bytes)

    stop = wait_for_stop()
    ses = make_session(args.tcp, args.verbose)
    port = wait_listening(ses)
    h = ses.add_torrent({'ti': ti, 'save_path': os.path.dirname(os.path.abspath(data_path))})
    # Let the hash check finish so we are a seed before the JS side connects.
    deadline = time.time() + 30
    while not h.status().is_seeding:
        drain_alerts(ses)
        if time.time() > deadline:
            raise RuntimeError('torrent never became a seed: ' + str(h.status().state))
        time.sleep(0.05)

    emit(dict(meta, event='ready', port=port, sha256=sha256_file(data_path),
              dataPath=data_path, torrentPath=torrent_path))
    peer = (HOST, args.connect_port) if args.connect_port else None
    last_connect = 0.0
    connected = False
    while not stop.is_set():
        # wait_for_alert, not a fixed sleep: alerts (and so peer events) are
        # reported within milliseconds, which reset.test.ts relies on to time them.
        ses.wait_for_alert(50)
        drain_alerts(ses)
        track_peers(h)
        if peer and not connected:
            if h.status().num_peers > 0:
                connected = True
            elif time.time() - last_connect > 2.0:
                log('connect_peer', peer)
                h.connect_peer(peer)
                last_connect = time.time()
    log('stopping; uploaded', h.status().total_payload_upload, 'payload bytes')
    drain_alerts(ses)
    return 0


def cmd_download(args):
    dl_dir = os.path.join(args.dir, 'dl')
    os.makedirs(dl_dir, exist_ok=True)
    if args.torrent:
        ti = lt.torrent_info(args.torrent)
        meta = {'infoHash': str(ti.info_hashes().v1), 'pieceLength': ti.piece_length(),
                'length': ti.total_size(), 'name': ti.name(),
                'pieceHashes': [ti.hash_for_piece(i).hex() for i in range(ti.num_pieces())]}
    else:
        ti, _, meta = make_torrent(args.data)
    expected = sha256_file(args.data)

    stop = wait_for_stop()
    ses = make_session(args.tcp, args.verbose)
    port = wait_listening(ses)
    emit(dict(meta, event='torrent', port=port))
    h = ses.add_torrent({'ti': ti, 'save_path': dl_dir})

    peer = (HOST, args.peer_port)
    deadline = time.time() + args.timeout
    last_connect = 0.0
    first_connect = None
    while True:
        drain_alerts(ses)
        track_peers(h)
        st = h.status()
        if st.is_seeding:
            break
        if stop.is_set():
            log('stopped before download completed')
            return 1
        if time.time() > deadline:
            emit({'event': 'done', 'ok': False, 'error': 'timeout',
                  'progress': st.progress, 'state': str(st.state)})
            return 1
        # connect_peer is a no-op while checking, so wait that out (else the
        # next try is 2 s later, which the transfer times would include); then
        # keep (re)trying while we have no peer.
        now = time.time()
        checking = st.state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
        if st.num_peers == 0 and not checking and now - last_connect > 2.0:
            log('connect_peer', peer, 'state', st.state)
            h.connect_peer(peer)
            last_connect = now
            first_connect = first_connect or time.monotonic()
        time.sleep(0.01 if first_connect is None else 0.05)

    seconds = time.monotonic() - (first_connect or time.monotonic())
    got = sha256_file(os.path.join(dl_dir, meta['name']))
    ok = got == expected
    emit({'event': 'done', 'ok': ok, 'sha256': got, 'expectedSha256': expected,
          'downloaded': h.status().total_payload_download, 'seconds': seconds})
    drain_alerts(ses)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['seed', 'download'])
    p.add_argument('dir')
    p.add_argument('--tcp', action='store_true', help='TCP instead of uTP (debugging)')
    p.add_argument('--verbose', action='store_true', help='all alert categories')
    p.add_argument('--size', type=int, default=6 * 1024 * 1024 + 12345)
    p.add_argument('--seed', type=int, default=29)
    p.add_argument('--data')
    p.add_argument('--peer-port', type=int)
    p.add_argument('--timeout', type=float, default=60.0)
    p.add_argument('--connect-port', type=int, help='seed: also connect to 127.0.0.1:P')
    p.add_argument('--report-peers', action='store_true', help='peer events as JSON lines')
    p.add_argument('--peer-info', action='store_true', help='peer/connection socket types as JSON lines')
    p.add_argument('--torrent', help='download: this torrent file instead of one made of --data')
    args = p.parse_args()
    global REPORT_PEERS, PEER_INFO
    REPORT_PEERS = args.report_peers
    PEER_INFO = args.peer_info
    if args.mode == 'seed':
        return cmd_seed(args)
    if not args.data or not args.peer_port:
        p.error('download needs --data and --peer-port')
    return cmd_download(args)


if __name__ == '__main__':
    sys.exit(main())

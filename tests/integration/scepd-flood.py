#!/usr/bin/env python3
"""The attack of scepd-flood.sh: every kind of abuse at once, for DURATION seconds.

Usage: scepd-flood.py PORT DURATION STATS_FILE FORWARD_PORT_FILE

Attackers bind to their own loopback source addresses (scepd's per-client limits apply
per address); each holds its sockets with a selector and opens a new one whenever scepd
closes one, at most TARGET per address:
  127.0.0.2-7    connections that never finish their headers
  127.0.0.8-11   slow clients adding one header byte a second to each connection
  127.0.0.12-15  POSTs declaring a BODY_LEN body, sending a quarter of it and stalling
  127.0.0.16-19  garbage PKIOperation POSTs, one after another (FLOOD_THREADS per address)
  127.0.0.20     a TCP forwarder from 127.0.0.1:FORWARD_PORT (written to the file) to
                 scepd, so that the script's `scep enroll` with a wrong secret comes from
                 an address of its own
Standard library only. Every loop ends at the deadline (and is bounded in count); the
stats (JSON) are written at the end.
"""
import json, os, selectors, socket, sys, threading, time

PORT = int(sys.argv[1])
DURATION = float(sys.argv[2])
STATS_FILE = sys.argv[3]
FORWARD_PORT_FILE = sys.argv[4]
HOST = '127.0.0.1'
TARGET = 14          # connections each holder address tries to keep open
BODY_LEN = int(os.environ.get('FLOOD_BODY_LEN', 1048576))  # declared by the stalled POSTs
FLOOD_THREADS = 2
PATH = '/scep/ra/pkiclient.exe'
deadline = time.monotonic() + DURATION
lock = threading.Lock()
stats = {}


def add(key, n=1):
    with lock:
        stats[key] = stats.get(key, 0) + n


def peak(key, value):
    with lock:
        if value > stats.get(key, 0):
            stats[key] = value


def connect(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.settimeout(2)
    s.connect((HOST, PORT))
    return s


def holder(kind, src):
    """Keeps up to TARGET connections of one kind open from src; counts how they end."""
    sel = selectors.DefaultSelector()
    held = {}  # socket -> (opened at, bytes of answer so far)
    last_trickle = time.monotonic()
    for _ in range(100000):
        now = time.monotonic()
        if now >= deadline:
            break
        for _ in range(TARGET - len(held)):
            try:
                s = connect(src)
                if kind == 'headers':
                    s.sendall(b'GET ' + PATH.encode() + b'?operation=GetCACaps HTTP/1.1\r\n'
                              b'Host: flood\r\n')
                elif kind == 'trickle':
                    s.sendall(b'GET ' + PATH.encode() + b'?operation=GetCACaps HTTP/1.1\r\n'
                              b'X-Slow: ')
                else:
                    s.sendall(b'POST ' + PATH.encode() + b'?operation=PKIOperation HTTP/1.1\r\n'
                              b'Host: flood\r\nContent-Type: application/x-pki-message\r\n'
                              b'Content-Length: %d\r\n\r\n' % BODY_LEN)
                    s.sendall(b'\x30' * (BODY_LEN // 4))
                s.setblocking(False)
            except OSError:
                add(kind + '_connect_errors')
                break
            held[s] = [time.monotonic(), b'']
            sel.register(s, selectors.EVENT_READ)
            add(kind + '_opened')
        # Held: survived 2 s, so not one of those scepd closed at once (request_timeout
        # is 5 s); a refused connection is open on this side until its EOF is read.
        peak(kind + '_peak_held_per_address', sum(1 for v in held.values() if now - v[0] >= 2.0))
        if kind == 'trickle' and now - last_trickle >= 1.0:
            last_trickle = now
            for s in list(held):
                try:
                    s.send(b'a')
                    add('trickle_bytes')
                except OSError:
                    pass
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b''
            if data:
                held[s][1] += data[:64]
                continue
            opened, answer = held.pop(s)
            sel.unregister(s)
            s.close()
            lived = time.monotonic() - opened
            if answer.startswith(b'HTTP/1.1 503') or answer.startswith(b'HTTP/1.0 503'):
                add(kind + '_503')
            elif answer:
                add(kind + '_answered_' + answer[9:12].decode('ascii', 'replace'))
            elif lived < 2.0:
                add(kind + '_refused_at_once')
            else:
                add(kind + '_cut')
                peak(kind + '_longest_held_ms', int(lived * 1000))
        # Pace reconnections: at most one refill round every 50 ms.
        time.sleep(0.05)
    for s in list(held):
        sel.unregister(s)
        s.close()


def flooder(src):
    """Garbage PKIOperation POSTs, each on a new connection, as fast as they are answered."""
    body = b'\x30\x82\x07\xd0' + b'garbage!' * 250
    for _ in range(100000):
        if time.monotonic() >= deadline:
            break
        try:
            s = connect(src)
            s.sendall(b'POST ' + PATH.encode() + b'?operation=PKIOperation HTTP/1.1\r\n'
                      b'Host: flood\r\nConnection: close\r\n'
                      b'Content-Type: application/x-pki-message\r\n'
                      b'Content-Length: %d\r\n\r\n' % len(body) + body)
            answer = b''
            for _ in range(100):
                data = s.recv(4096)
                if not data:
                    break
                answer += data[:64] if len(answer) < 64 else b''
            s.close()
        except OSError:
            add('flood_errors')
            time.sleep(0.01)
            continue
        add('flood_sent')
        add('flood_answered_' + (answer[9:12].decode('ascii', 'replace') if answer else 'none'))
        time.sleep(0.002)


def pipe(a, b):
    try:
        for _ in range(100000):
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forwarder(listener):
    listener.settimeout(0.2)
    for _ in range(100000):
        if time.monotonic() >= deadline + 30:
            break
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        try:
            upstream = connect('127.0.0.20')
            upstream.settimeout(None)
            client.settimeout(None)
        except OSError:
            client.close()
            continue
        add('forwarded')
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(16)
    threading.Thread(target=forwarder, args=(listener,), daemon=True).start()
    with open(FORWARD_PORT_FILE + '.tmp', 'w') as f:
        f.write('%d\n' % listener.getsockname()[1])
    os.rename(FORWARD_PORT_FILE + '.tmp', FORWARD_PORT_FILE)
    threads = []
    for i in range(2, 8):
        threads.append(threading.Thread(target=holder, args=('headers', '127.0.0.%d' % i)))
    for i in range(8, 12):
        threads.append(threading.Thread(target=holder, args=('trickle', '127.0.0.%d' % i)))
    for i in range(12, 16):
        threads.append(threading.Thread(target=holder, args=('body', '127.0.0.%d' % i)))
    for i in range(16, 20):
        for _ in range(FLOOD_THREADS):
            threads.append(threading.Thread(target=flooder, args=('127.0.0.%d' % i,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(DURATION + 10)
    with open(STATS_FILE, 'w') as f:
        json.dump(stats, f, sort_keys=True, indent=1)
    # The forwarder serves the script's last wrong-secret attempts a little longer.
    time.sleep(max(0.0, min(30.0, deadline + 3 - time.monotonic())))


if __name__ == '__main__':
    main()

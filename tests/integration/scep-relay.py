#!/usr/bin/env python3
"""Logging HTTP reverse proxy for capturing real SCEP exchanges.

Usage: scep-relay.py LISTEN_PORT UPSTREAM_BASE OUTDIR
  e.g. scep-relay.py 18081 http://127.0.0.1:18080 /tmp/capture

Listens on 127.0.0.1:LISTEN_PORT only, forwards every GET/POST unchanged to
UPSTREAM_BASE + path, and writes per exchange NNN-OP-req.{meta,der} and
NNN-OP-resp.{meta,bin}: the request line and headers, the PKIOperation message
(POST body, or the base64 `message=` of a GET, decoded), the response status,
headers and body. Only the standard library is used.

If RELAY_CAPS is set, GetCACaps is answered by the relay itself with that text
(use "\\n" for line breaks), e.g. RELAY_CAPS='AES\\nSHA-256\\nSHA-384' -- handy to
probe how a client reacts to capability lists the upstream does not send.
"""
import base64, http.server, os, sys, threading, urllib.error, urllib.parse, urllib.request

port, upstream, outdir = int(sys.argv[1]), sys.argv[2].rstrip('/'), sys.argv[3]
os.makedirs(outdir, exist_ok=True)
lock = threading.Lock()
counter = [0]


def raw_query_param(query, name):
    # Keep '+' as '+': SCEP base64 is often not escaped properly.
    for part in query.split('&'):
        k, _, v = part.partition('=')
        if k == name:
            return urllib.parse.unquote(v)
    return None


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'

    def log_message(self, fmt, *args):
        sys.stderr.write('relay: ' + (fmt % args) + '\n')

    def _relay(self, method):
        with lock:
            counter[0] += 1
            n = counter[0]
        parsed = urllib.parse.urlsplit(self.path)
        op = raw_query_param(parsed.query, 'operation') or 'none'
        body = b''
        if method == 'POST':
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else b''
        stem = os.path.join(outdir, '%03d-%s' % (n, op))
        with open(stem + '-req.meta', 'w') as f:
            f.write('%s %s %s\n' % (method, self.path, self.request_version))
            for k, v in self.headers.items():
                f.write('%s: %s\n' % (k, v))
        msg = body
        if method == 'GET' and op == 'PKIOperation':
            m = raw_query_param(parsed.query, 'message') or ''
            m = m.replace(' ', '+').replace('\r', '').replace('\n', '')
            m = m.replace('-', '+').replace('_', '/')
            m += '=' * (-len(m) % 4)
            try:
                msg = base64.b64decode(m)
            except Exception:
                msg = m.encode()
        if msg:
            with open(stem + '-req.der', 'wb') as f:
                f.write(msg)
        override = os.environ.get('RELAY_CAPS')
        if op == 'GetCACaps' and override is not None:
            status, headers = 200, [('Content-Type', 'text/plain')]
            data = override.replace('\\n', '\n').encode()
            self._answer(stem, status, headers, data)
            return
        req = urllib.request.Request(upstream + self.path, data=body if method == 'POST' else None,
                                     method=method)
        for k, v in self.headers.items():
            if k.lower() not in ('host', 'connection', 'content-length', 'transfer-encoding'):
                req.add_header(k, v)
        try:
            resp = urllib.request.urlopen(req, timeout=20)
            status, headers, data = resp.status, resp.getheaders(), resp.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers.items(), e.read()
        except Exception as e:  # upstream down
            status, headers, data = 502, [('Content-Type', 'text/plain')], str(e).encode()
        self._answer(stem, status, headers, data)

    def _answer(self, stem, status, headers, data):
        with open(stem + '-resp.meta', 'w') as f:
            f.write('%d\n' % status)
            for k, v in headers:
                f.write('%s: %s\n' % (k, v))
        with open(stem + '-resp.bin', 'wb') as f:
            f.write(data)
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ('connection', 'content-length', 'transfer-encoding', 'date', 'server'):
                self.send_header(k, v)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._relay('GET')

    def do_POST(self):
        self._relay('POST')


http.server.ThreadingHTTPServer.allow_reuse_address = True
srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), Relay)
srv.serve_forever()

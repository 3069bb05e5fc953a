#!/usr/bin/env python3
"""Local TLS pieces for scripts/bench-proxy.sh (driven by tests/netproxy_bench.rs).

  server CERT KEY          serve HTTPS on 127.0.0.1:0, print the port, answer every GET with "ok"
  client CERT PORT PROXY N time N HTTPS requests to bench.test:PORT directly and N through the
                           HTTP CONNECT proxy at PROXY (host:port); print one JSON line

Everything stays on loopback: bench.test is only ever the TLS server name, never resolved here.
"""
import json
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "bench.test"


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def server(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


def fetch(ctx, sock):
    with ctx.wrap_socket(sock, server_hostname=NAME) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    if not data.startswith(b"HTTP/1.0 200") or not data.endswith(b"ok"):
        raise SystemExit(f"bad answer: {data[:200]!r}")


def direct(ctx, port):
    fetch(ctx, socket.create_connection(("127.0.0.1", port)))


def via_proxy(ctx, port, proxy):
    host, pport = proxy.rsplit(":", 1)
    sock = socket.create_connection((host, int(pport)))
    sock.sendall(f"CONNECT {NAME}:{port} HTTP/1.1\r\nHost: {NAME}:{port}\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise SystemExit(f"proxy closed: {head!r}")
        head += byte
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"proxy refused: {head!r}")
    fetch(ctx, sock)


def timed(n, one):
    one()  # warm-up, not counted
    start = time.perf_counter()
    for _ in range(n):
        one()
    return time.perf_counter() - start


def client(cert, port, proxy, n):
    ctx = ssl.create_default_context(cafile=cert)
    port, n = int(port), int(n)
    d = timed(n, lambda: direct(ctx, port))
    p = timed(n, lambda: via_proxy(ctx, port, proxy))
    print(json.dumps({"n": n, "direct_s": d, "proxy_s": p, "ratio": p / d}), flush=True)


if __name__ == "__main__":
    {"server": server, "client": client}[sys.argv[1]](*sys.argv[2:])

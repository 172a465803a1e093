"""The agent's control API from the bench scripts: HTTP/1.1 over its Unix socket, one request per
connection, and a free loopback port for a new agent's listen address."""
import http.client
import json
import socket


class unix_http(http.client.HTTPConnection):
    """An HTTP connection to a Unix socket path."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(sock_path, method, path, body=None, ctype=None, timeout=30):
    """(status, raw answer body). A dict or list body is sent as JSON; bytes as `ctype`."""
    if isinstance(body, (dict, list)):
        body, ctype = json.dumps(body).encode(), "application/json"
    conn = unix_http(sock_path, timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def free_port():
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

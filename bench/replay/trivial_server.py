#!/usr/bin/env python3
"""The baseline of design.md section 7: a server of overlayd's framing
(u32 little-endian length + JSON body) that answers every request `ok`
under its id and does no other work. One thread per connection.

usage: trivial_server.py SOCKET_PATH"""
import json
import os
import socket
import struct
import sys
import threading


def serve(conn):
    buf = b""
    with conn:
        while True:
            while len(buf) >= 4:
                (n,) = struct.unpack_from("<I", buf)
                if len(buf) < 4 + n:
                    break
                body, buf = buf[4:4 + n], buf[4 + n:]
                rid = json.loads(body)["id"]
                out = ('{"frame":"response","id":%d,"response":{"result":"ok"}}'
                       % rid).encode()
                conn.sendall(struct.pack("<I", len(out)) + out)
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(128)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# The baseline for the IPC throughput comparison (design §7): a trivial
# server of overlayd's framing (u32 little-endian length + JSON) that
# answers every request `ok` without doing any work, one thread per
# connection.
#
#   python3 trivial_server.py SOCKET
import json
import os
import socket
import struct
import sys
import threading


def serve(conn):
    f = conn.makefile("rb")
    while True:
        head = f.read(4)
        if len(head) < 4:
            return
        body = f.read(struct.unpack("<I", head)[0])
        rid = json.loads(body)["id"]
        out = json.dumps({"frame": "response", "id": rid,
                          "response": {"result": "ok"}},
                         separators=(",", ":")).encode()
        conn.sendall(struct.pack("<I", len(out)) + out)


def main():
    path = sys.argv[1]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()

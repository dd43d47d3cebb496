#!/usr/bin/env python3
"""The reference's raw relay scenario (nat.md §10.1 #8) against a relay
server at HOST:PORT, speaking the wire protocol of nat.md §4 directly:

  relay_client.py HOST:PORT CREDENTIAL MAX_SESSIONS

A and B allocate, permit each other's relay address, A sends DATA to B's
relay address and B must receive exactly those bytes from A's relay
address, and back. With both sessions held, one more client is refused
with "max sessions reached" (MAX_SESSIONS must be 2); after A and B
deallocate, it gets a session. Exit status 0 on success, 1 with a reason."""
import hashlib
import socket
import struct
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
server = (host, int(port))
key = hashlib.blake2b(sys.argv[2].encode(), digest_size=32).digest()
assert int(sys.argv[3]) == 2, "the scenario needs max_sessions 2"


def fail(why):
    print("FAIL:", why)
    sys.exit(1)


def control(t, payload):
    body = bytes([t]) + struct.pack(">H", len(payload)) + payload
    return body + hashlib.blake2b(body, key=key, digest_size=32).digest()


def parse_control(msg):
    t, n = msg[0], struct.unpack(">H", msg[1:3])[0]
    body, tag = msg[: 3 + n], msg[3 + n : 3 + n + 32]
    if hashlib.blake2b(body, key=key, digest_size=32).digest() != tag:
        fail("bad auth tag on a server message of type %d" % t)
    return t, msg[3 : 3 + n]


def enc_addr(ip, p):
    return b"\x01" + socket.inet_aton(ip) + struct.pack(">H", p)


def dec_addr(b):
    if b[0] != 1:
        fail("not an IPv4 address in a relay message")
    return socket.inet_ntoa(b[1:5]), struct.unpack(">H", b[5:7])[0]


class client:
    def __init__(self, name):
        self.name = name
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.settimeout(3)

    def ask(self, t, payload):
        self.s.sendto(control(t, payload), server)
        msg, _ = self.s.recvfrom(65536)
        return parse_control(msg)

    def allocate(self):
        name = self.name.encode()
        return self.ask(0x01, bytes([len(name)]) + name)

    def allocated(self):
        t, p = self.allocate()
        if t != 0x02:
            fail("%s: allocation refused: %r" % (self.name, p))
        self.relay, self.id = dec_addr(p[:7]), p[7:23]
        lifetime = struct.unpack(">I", p[23:27])[0]
        print("  %s: relay address %s:%d, lifetime %d s" % (self.name, *self.relay, lifetime))

    def permit(self, peer):
        t, _ = self.ask(0x04, self.id + enc_addr(*peer))
        if t != 0x05:
            fail("%s: no PermissionResp" % self.name)

    def data(self, peer, raw):
        inner = enc_addr(*peer) + raw
        self.s.sendto(b"\x80" + struct.pack(">H", len(inner)) + inner, server)

    def receive_data(self):
        msg, src = self.s.recvfrom(65536)
        if msg[0] != 0x80:
            fail("%s: expected DATA, got type %d" % (self.name, msg[0]))
        n = struct.unpack(">H", msg[1:3])[0]
        return src, dec_addr(msg[3:10]), msg[10 : 3 + n]

    def deallocate(self):
        self.s.sendto(control(0x08, self.id), server)


a, b = client("client-a"), client("client-b")
a.allocated()
b.allocated()
a.permit(b.relay)
b.permit(a.relay)
hello = b"hello from A to B via relay"
a.data(b.relay, hello)
src, peer, raw = b.receive_data()
if raw != hello or peer != a.relay or src != server:
    fail("B got %r from %s (peer %s)" % (raw, src, peer))
print("  B received %r from A's relay address" % raw.decode())
b.data(a.relay, b"and back")
_, peer, raw = a.receive_data()
if raw != b"and back" or peer != b.relay:
    fail("A got %r (peer %s)" % (raw, peer))
print("  A received the answer")

c = client("client-c")
t, p = c.allocate()
if t != 0x03 or p != b"max sessions reached":
    fail("a third client was not refused: type %d %r" % (t, p))
print("  a third client: %s" % p.decode())
a.deallocate()
b.deallocate()
for _ in range(50):
    t, p = c.allocate()
    if t == 0x02:
        print("  after A and B deallocated, the third client has a session")
        c.id = p[7:23]
        c.deallocate()
        sys.exit(0)
    time.sleep(0.1)
fail("sessions were not freed by Deallocate")

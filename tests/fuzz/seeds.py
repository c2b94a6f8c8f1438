#!/usr/bin/python3
"""tests/fuzz/seeds.py — writes the seed corpora of tests/fuzz/corpus/ from real messages.

Run from the top of the tree after `make` (it runs build/forkmon-client and a program
with build/forkmonhook.so against a stand-in for the helper or the monitor, and keeps what
they send). The corpora are committed; run it again when the protocol changes.
"""
import os, socket, struct, subprocess, sys, tempfile, hashlib, json

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(TOP, 'tests', 'fuzz', 'corpus')


def keep(name, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), 'wb') as f:
        f.write(data)


def client_requests():
    """What forkmon-client sends the helper, for a few commands and environments."""
    out = []
    calls = [(['true'], {'PATH': '/usr/bin:/bin'}),
             (['lua5.4', 'prog.lua', 'a b'], {'PATH': '/usr/bin', 'HOME': '/root', 'LANG': 'C.UTF-8'}),
             (['python3', '-c', 'print(1)'], {'PATH': '/usr/bin', 'LD_PRELOAD': '/x.so', 'FORKMON_SOCKET': '@s', 'X': ''}),
             (['/bin/echo'], {})]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'h.sock')
        for argv, env in calls:
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            ls.bind(path)
            ls.listen(1)
            env = dict(env, FORKMON_HELPER_SOCKET=path)
            p = subprocess.Popen([os.path.join(TOP, 'build', 'forkmon-client')] + argv, env=env,
                                 cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            c, _ = ls.accept()
            msg, anc, _, _ = c.recvmsg(1 << 18, socket.CMSG_SPACE(64))
            for lvl, typ, fds in anc:
                for i in range(0, len(fds) - len(fds) % 4, 4):
                    os.close(struct.unpack('i', fds[i:i + 4])[0])
            c.close()
            ls.close()
            os.unlink(path)
            p.wait()
            out.append(msg)
    return out


def request_seeds():
    for m in client_requests():
        keep('request', bytes([4 << 1]) + m[8:])  # 4 descriptors, header made by the target
        keep('request', bytes([(4 << 1) | 1]) + m)  # the whole datagram


FM_MAGIC, FM_VERSION = 0x464b, 9
HELLO, HELLO_OK, READ, READ_REPLY, READ_AGAIN = 1, 2, 3, 4, 5


def header(typ, length):
    return struct.pack('<HBBI', FM_MAGIC, FM_VERSION, typ, length)


def hello_ok(role, hints):
    body = struct.pack('<iiIIIIqII', 0, role, (1 if not hints else 0) | 8, len(hints), 3, 10, 2000000, 8, 0)
    body += b'\0' * 1024
    for pre, suf in hints:
        body += pre.ljust(64, b'\0') + suf.ljust(64, b'\0')
    body += b'\0' * (128 * (16 - len(hints)))
    return header(HELLO_OK, 8 + len(body)) + body


def hook_messages():
    """What the hook inside real programs sends the monitor (a stand-in answers)."""
    import select
    msgs = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, 'mod.lua'), 'w') as f:
            f.write('return 1\n')
        with open(os.path.join(tmp, 'mod.py'), 'w') as f:
            f.write('X = 1\n')
        for argv in (['lua5.4', '-e', 'dofile("mod.lua") dofile("mod.lua") io.open("mod.lua"):close()'],
                     ['python3', '-S', '-c', 'import sys; sys.path.insert(0, "."); import mod']):
            name = '\0forkmon-fuzz-seeds-%d' % os.getpid()
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            ls.bind(name)
            ls.listen(8)
            env = dict(PATH='/usr/bin:/bin', FORKMON_SOCKET='@' + name[1:],
                       LD_PRELOAD=os.path.join(TOP, 'build', 'forkmonhook.so'))
            p = subprocess.Popen(argv, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            conns = []
            while p.poll() is None or conns:
                r, _, _ = select.select([ls] + conns, [], [], 0.2)
                if not r and p.poll() is not None:
                    break
                for s in r:
                    if s is ls:
                        conns.append(ls.accept()[0])
                        continue
                    m = s.recv(1 << 18)
                    if not m:
                        conns.remove(s)
                        s.close()
                        continue
                    msgs.append(m)
                    if m[3] == HELLO:
                        s.send(hello_ok(1, []))
                    elif m[3] == READ and not (struct.unpack_from('<I', m, 8)[0] & 2):
                        s.send(header(READ_REPLY, 24) + struct.pack('<iiQ', 1, 0, len(msgs)))
            p.wait()
            ls.close()
    return msgs


def peer_seeds(msgs):
    for m in msgs:
        keep('peer', bytes([0x10]) + m)  # as the monitor reads: no descriptors, its buffer
        keep('peer', bytes([0x22]) + m)  # two descriptors, a large buffer


# The patterns of the README and the tests, and what programs open.
SPECS = [b'%.lua$', b'%.py$;%.lua$', b'^/srv/app/.*%.rb$', b'src/.*%.c$', b'[%w_]+%.json$', b'%.pyc?$',
         b'^/home/(%w+)/%1%.txt$', b'%f[%w]main%.', b'%b()', b'a-a-a-b', b'mod', b'%.lua$;;^/usr/']
OPENS = [(b'/srv/app', b'lib/x.rb'), (b'/home/u/p', b'./mod.lua'), (b'/home/u/p', b'__pycache__/mod.cpython-311.pyc'),
         (b'/', b'/usr/share/lua/5.4/x.lua'), (b'/a/b', b'../c//d/./e.py'), (b'/a', b'x/..'), (b'/home/u', b'u.txt')]


def read_paths(msgs):
    """The absolute paths the hook reported."""
    out = []
    for m in msgs:
        if m[3] in (READ, READ_AGAIN):
            out.append(m[56:].split(b'\0')[0])
    return out


def pattern_seeds(msgs):
    paths = read_paths(msgs)
    for base, rel in OPENS:
        keep('path', b'\xff' + base + b'\0' + rel)
        keep('path', b'\x20' + base + b'\0' + rel)
    for p in paths[:4]:
        keep('path', b'\xff' + p)
    for i, spec in enumerate(SPECS):
        base, rel = OPENS[i % len(OPENS)]
        keep('filter', spec + b'\0' + base + b'/' + rel)
        keep('hints', spec + b'\0' + base + b'\0' + rel)
        if paths:
            keep('filter', spec + b'\0' + paths[i % len(paths)])
    for p in paths[:4]:
        keep('events', p)
    keep('events', b'/tmp/caf\xc3\xa9.lua\0lua5.4\0-e\0print("\\n")')
    keep('events', b'/tmp/a\nb.lua\0/tmp/\x7f\x01.lua')


def conn_seeds(msgs):
    """One process's conversation, its reads of the one file fuzz_conn.c watches."""
    def rec(m):
        return bytes([1]) + struct.pack('<H', len(m)) + m
    hello = [m for m in msgs if m[3] == HELLO][:1]
    reads = []
    for m in msgs:
        if m[3] in (READ, READ_AGAIN):
            path = b'/tmp/forkmon-fuzz-conn/mod.lua\0'
            reads.append(m[:4] + struct.pack('<I', 56 + len(path)) + m[8:56] + path)
    note = header(6, 16) + struct.pack('<ii', 2, 0)
    keep('conn', b''.join(rec(m) for m in hello + reads[:3]))
    keep('conn', b''.join(rec(m) for m in hello + reads[-2:] + [note]))
    keep('conn', b''.join(rec(m) for m in hello + [header(7, 16) + struct.pack('<Q', 1)]))


def ring_seeds():
    """Rings as fuzz_ring.c reads them, filled as common/ring.c's ring_put fills them."""
    def read(path, typ=READ):
        body = struct.pack('<IIQQqqq', 1, 0, 2049, 77, 9, 10 ** 18, 10 ** 18) + path + b'\0'
        return header(typ, 8 + len(body)) + body
    def own(typ, ident, path):
        body = struct.pack('<II', ident, 2) + path + b'\0'
        return header(typ, 8 + len(body)) + body
    note = header(6, 16) + struct.pack('<ii', 1, 3)
    def ring(size, start, msgs, how, taken=0):
        data, head, tail = bytearray(size), start, start
        for m in msgs:
            need = (len(m) + 7) & ~7
            off, skip = tail % size, 0
            if off + need > size:
                skip = size - off  # a wrap marker (a zero header) there, the record at 0
            if need > size // 2 or tail + skip + need - head > size:
                break
            if skip:
                data[off:off + 8] = bytes(8)
                off = 0
            data[off:off + len(m)] = m
            tail += skip + need
        head += taken
        keep('ring', struct.pack('<HB', size // 8 - 1, how) + struct.pack('<QQ', head, tail) + bytes(data))
    mixed = [read(b'/srv/app/mod.lua'), read(b'/srv/app/mod.lua', READ_AGAIN), note,
             own(15, 1, b'/srv/app/out.txt'), own(16, 1, b''), read(b'/usr/share/lua/5.4/x.lua')]
    ring(1024, 0, mixed, 1)
    ring(512, 448, mixed, 0)  # the second record wraps
    ring(256, 0, [read(b'/ab.lua')] * 8, 2)  # full: 4 of 64 bytes
    ring(512, 448, mixed, 4 | 1)  # near 2^32
    ring(512, 448, mixed, 4 | 8)  # near 2^64's end
    ring(4096, 8, [read(b'/p/%d.py' % i) for i in range(80)], 3)


if __name__ == '__main__':
    if sys.argv[1:] == ['ring']:  # only the ring's (no program runs)
        ring_seeds()
        sys.exit(0)
    ring_seeds()
    request_seeds()
    msgs = hook_messages()
    peer_seeds(msgs)
    pattern_seeds(msgs)
    conn_seeds(msgs)

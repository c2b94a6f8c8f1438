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


if __name__ == '__main__':
    request_seeds()

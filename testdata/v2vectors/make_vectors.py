#!/usr/bin/env python3
"""Computes kk v2 knock test vectors without Go, for pkg/knock's tests.

Only the Python standard library (hmac, hashlib, ipaddress) and the openssl
command (AES-128-ECB, which Python's standard library lacks) are used.
Run from this directory: python3 make_vectors.py > vectors.txt

Each output line: name counter port knock_port source ciphertext_hex
"""
import hashlib
import hmac
import ipaddress
import struct
import subprocess

CIPHER_KEY = bytes(range(0x00, 0x10))
MAC_KEY = bytes(range(0x10, 0x20))


def aes_ecb(key, block):
    out = subprocess.run(
        ["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", key.hex()],
        input=block, capture_output=True, check=True).stdout
    assert len(out) == 16
    return out


def hmac_sha1(key, msg):
    return hmac.new(key, msg, hashlib.sha1).digest()


def encode_v2(counter, port, knock_port, source):
    v2key = hmac_sha1(MAC_KEY, b"kk knock v2 mac key")[:16]
    addr = ipaddress.ip_address(source)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.version == 4:
        bound = b"\x04" + addr.packed
    else:
        bound = b"\x06" + addr.packed[:8]
    msg = struct.pack(">HIH", port, counter, knock_port) + bound
    plain = (struct.pack(">H", port)
             + hmac_sha1(v2key, struct.pack(">H", port))[:1]
             + hmac_sha1(v2key, msg)[:9])
    ks = aes_ecb(CIPHER_KEY, bytes(12) + struct.pack(">I", counter))
    return bytes(p ^ k for p, k in zip(plain, ks[:12]))


CASES = [
    ("v4-ssh", 0, 22, 7000, "198.51.100.7"),
    ("v4-https-c7", 7, 443, 7000, "203.0.113.200"),
    ("v4-mapped", 1, 22, 7000, "::ffff:198.51.100.7"),
    ("v6-ssh", 0, 22, 7000, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
    ("v6-same-64", 0, 22, 7000, "2001:db8:1:2::1"),
    ("v4-max", 4294967295, 65535, 65535, "255.255.255.255"),
]

if __name__ == "__main__":
    for name, counter, port, knock_port, source in CASES:
        ct = encode_v2(counter, port, knock_port, source)
        print(name, counter, port, knock_port, source, ct.hex())

#!/usr/bin/env python3
"""Writes public/icon-192.png and icon-512.png (the mark of icon.svg: a ring
and a dot on green), with the standard library only. Run once; the PNGs are
committed. Usage: python3 scripts/icons.py"""
import os, struct, zlib

def png(size, path):
    bg, fg = (0x2f, 0x5d, 0x50), (0xf7, 0xf6, 0xf2)
    c = size / 2
    r_out, r_in, dot = size * 0.22 + size * 0.04, size * 0.22 - size * 0.04, size * 0.0625
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            d = ((x + 0.5 - c) ** 2 + (y + 0.5 - c) ** 2) ** 0.5
            row += bytes(fg if (r_in <= d <= r_out or d <= dot) else bg)
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", raw) + chunk(b"IEND", b""))

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "public")
for s in (192, 512):
    png(s, os.path.join(here, "icon-%d.png" % s))

#!/usr/bin/env python3
"""pngread.py GRID.png GRID.pgm: decode an 8-bit grayscale PNG with zlib alone
(signature, every chunk's CRC, IHDR, the IDAT stream, the five row filters)
and check that its pixels equal those of the binary PGM (P5) beside it.
Prints one PASS line, or a reason and exit 1."""
import struct, sys, zlib


def chunks(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("not a PNG signature")
    pos = 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) != crc:
            sys.exit("bad CRC in chunk %r" % kind)
        yield kind, body
        pos += 12 + n


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def unfilter(raw, w, h):
    out, prev, pos = [], bytearray(w), 0
    for _ in range(h):
        f, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + w])
        pos += 1 + w
        for x in range(w):
            a = line[x - 1] if x else 0
            b, c = prev[x], (prev[x - 1] if x else 0)
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            line[x] = (line[x] + pred) & 255
        out.append(bytes(line))
        prev = line
    return b"".join(out)


def main():
    data = open(sys.argv[1], "rb").read()
    parts = list(chunks(data))
    if parts[0][0] != b"IHDR" or parts[-1][0] != b"IEND":
        sys.exit("IHDR must come first and IEND last")
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", parts[0][1])
    if (depth, color, interlace) != (8, 0, 0):
        sys.exit("expected 8-bit gray, not interlaced; got %d %d %d" % (depth, color, interlace))
    pix = unfilter(zlib.decompress(b"".join(b for k, b in parts if k == b"IDAT")), w, h)
    pgm = open(sys.argv[2], "rb").read()
    head = b"P5\n%d %d\n255\n" % (w, h)
    if not pgm.startswith(head) or pgm[len(head):] != pix:
        sys.exit("the PNG's %dx%d pixels differ from %s" % (w, h, sys.argv[2]))
    print("PASS e2e reconstruct PNG: %dx%d gray, CRCs good, pixels equal the PGM's" % (w, h))


main()

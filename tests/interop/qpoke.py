#!/usr/bin/env python3
"""Poke bytes into a qcow2 (or qcow v1) image: the damage for bad-*.sh.

usage: qpoke.py IMAGE ASSIGNMENT...      apply each, in order
       qpoke.py IMAGE --get EXPR         print the value of EXPR
       qpoke.py IMAGE --layout           print the metadata layout
       qpoke.py --batch                  read lines `IMAGE ASSIGNMENT...`
                                         (shell-quoted) from stdin

An ASSIGNMENT is `TARGET OP EXPR` (OP one of = |= &= ^= += -=), with
    h.FIELD          a qcow2 header field (names below), big-endian
    q1.FIELD         a qcow v1 header field
    l1[I]            active L1 entry I
    l2[I][J]         entry J of the L2 table named by L1 entry I (for
                     extended L2: the descriptor; l2bm[I][J] the bitmap)
    rt[I]            refcount table entry I
    rc[C]            refcount of host cluster C (through rt / refblocks)
    snap[S].FIELD    snapshot table entry S: l1_table_offset, l1_size,
                     id_size, name_size, vm_state_size, extra_size
    bme.FIELD        the bitmaps header extension: nb_bitmaps, reserved,
                     dir_size, dir_offset, length (its length field)
    bm[B].FIELD      bitmap directory entry B: table_offset, table_size,
                     flags, type, granularity_bits, name_size,
                     extra_data_size
    bmt[B][I]        entry I of bitmap B's bitmap table
    sl1[S][I]        entry I of snapshot S's L1 table
    q1l1[I], q1l2[I][J]  qcow v1 L1 entry I, entry J of its L2 table
    u8@OFF u16@OFF u32@OFF u64@OFF   raw big-endian integer at byte OFF
    raw@OFF          bytes (EXPR is a bytes value) written at OFF
    eof              the file length (truncate or extend)
EXPR is a Python expression over integers with these names: cs, cb
(cluster size, bits), eof, size, l1_off, l1_size, rt_off, rt_clusters,
snap_off, nb_snap, hlen (header_length), bmext (offset of the bitmaps
extension's data, 0 if none), bmdir, bmdir_size, nb_bm, COPIED, COMPRESSED, ZERO, MASK
(offset bits of an L1/L2 entry), E (the current value of the target),
and functions l1(I), l2(I,J), l2bm(I,J), l2off(I) (the L2 table of L1
entry I), data(G) (host offset of guest cluster G), rt(I), rc(C), rb(I)
(refblock I), snap(S, FIELD), sl1(S, I), q1l1(I), q1l2(I, J) (qcow
v1), bm(B, FIELD), bmt(B, I), bmname(B), bment(B, name=, extra=,
FIELD=...) (the bytes of directory entry B rebuilt with changes, padded),
u8..u64(OFF), rd(OFF, N),
be16/be32/be64(V) (bytes) and ext(TYPE, DATA[, LENGTH]) (the bytes of a
header extension).  Strings in EXPR are Python literals: quote the whole
assignment for the shell.
"""
import re
import struct
import sys

QCOW2_FIELDS = {  # name: (offset, struct format)
    "magic": (0, ">I"), "version": (4, ">I"),
    "backing_file_offset": (8, ">Q"), "backing_file_size": (16, ">I"),
    "cluster_bits": (20, ">I"), "size": (24, ">Q"),
    "crypt_method": (32, ">I"), "l1_size": (36, ">I"),
    "l1_table_offset": (40, ">Q"), "refcount_table_offset": (48, ">Q"),
    "refcount_table_clusters": (56, ">I"), "nb_snapshots": (60, ">I"),
    "snapshots_offset": (64, ">Q"), "incompatible_features": (72, ">Q"),
    "compatible_features": (80, ">Q"), "autoclear_features": (88, ">Q"),
    "refcount_order": (96, ">I"), "header_length": (100, ">I"),
    "compression_type": (104, ">B"),
}
QCOW1_FIELDS = {
    "magic": (0, ">I"), "version": (4, ">I"),
    "backing_file_offset": (8, ">Q"), "backing_file_size": (16, ">I"),
    "mtime": (20, ">I"), "size": (24, ">Q"), "cluster_bits": (32, ">B"),
    "l2_bits": (33, ">B"), "crypt_method": (36, ">I"),
    "l1_table_offset": (40, ">Q"),
}
SNAP_FIELDS = {
    "l1_table_offset": (0, ">Q"), "l1_size": (8, ">I"),
    "id_size": (12, ">H"), "name_size": (14, ">H"),
    "vm_state_size": (32, ">I"), "extra_size": (36, ">I"),
}
BM_EXT = 0x23852875
BME_FIELDS = {  # offsets from the extension's data
    "nb_bitmaps": (0, ">I"), "reserved": (4, ">I"), "dir_size": (8, ">Q"),
    "dir_offset": (16, ">Q"), "length": (-4, ">I"),
}
BM_FIELDS = {
    "table_offset": (0, ">Q"), "table_size": (8, ">I"), "flags": (12, ">I"),
    "type": (16, ">B"), "granularity_bits": (17, ">B"),
    "name_size": (18, ">H"), "extra_data_size": (20, ">I"),
}
COPIED = 1 << 63
COMPRESSED = 1 << 62
ZERO = 1
MASK = 0x00fffffffffffe00


def ext(typ, data=b"", length=None):
    """A header extension: type, length (default: len(data)), data padded
    to a multiple of 8."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    n = len(data) if length is None else length
    return struct.pack(">II", typ, n) + data + bytes(-len(data) % 8)


class Img:
    def __init__(self, path):
        self.f = open(path, "r+b")

    # raw access
    def rd(self, off, n):
        self.f.seek(off)
        return self.f.read(n)

    def wr(self, off, data):
        self.f.seek(off)
        self.f.write(data)

    def get(self, off, fmt):
        b = self.rd(off, struct.calcsize(fmt))
        if len(b) < struct.calcsize(fmt):
            raise SystemExit(f"qpoke: read past EOF at {off}")
        return struct.unpack(fmt, b)[0]

    def put(self, off, fmt, v):
        self.wr(off, struct.pack(fmt, v & ((1 << (8 * struct.calcsize(fmt))) - 1)))

    def eof(self):
        self.f.seek(0, 2)
        return self.f.tell()

    # header
    def h(self, name):
        off, fmt = QCOW2_FIELDS[name]
        if off >= 72 and self.get(4, ">I") < 3:
            return {"refcount_order": 4, "header_length": 72}.get(name, 0)
        return self.get(off, fmt)

    def cb(self):
        return self.h("cluster_bits")

    def cs(self):
        return 1 << self.cb()

    def extl2(self):
        return self.h("version") >= 3 and bool(self.h("incompatible_features") & 16)

    def l2_entry_size(self):
        return 16 if self.extl2() else 8

    # addresses of the structures' entries
    def a_l1(self, i):
        return self.h("l1_table_offset") + 8 * i

    def l2off(self, i):
        return self.get(self.a_l1(i), ">Q") & MASK

    def a_l2(self, i, j):
        off = self.l2off(i)
        if not off:
            raise SystemExit(f"qpoke: L1 entry {i} has no L2 table")
        return off + self.l2_entry_size() * j

    def a_rt(self, i):
        return self.h("refcount_table_offset") + 8 * i

    def rb(self, i):
        return self.get(self.a_rt(i), ">Q") & ~511

    def rc_loc(self, c):
        bits = 1 << self.h("refcount_order")
        per = self.cs() * 8 // bits
        rb = self.rb(c // per)
        if not rb:
            raise SystemExit(f"qpoke: no refcount block for cluster {c}")
        return rb, (c % per) * bits, bits

    def rc(self, c):
        rb, bit, bits = self.rc_loc(c)
        if bits >= 8:
            return int.from_bytes(self.rd(rb + bit // 8, bits // 8), "big")
        return (self.rd(rb + bit // 8, 1)[0] >> (bit % 8)) & ((1 << bits) - 1)

    def set_rc(self, c, v):
        rb, bit, bits = self.rc_loc(c)
        v &= (1 << bits) - 1
        if bits >= 8:
            self.wr(rb + bit // 8, v.to_bytes(bits // 8, "big"))
            return
        b = self.rd(rb + bit // 8, 1)[0]
        m = ((1 << bits) - 1) << (bit % 8)
        self.wr(rb + bit // 8, bytes([(b & ~m) | (v << (bit % 8))]))

    def a_snap(self, s):
        off = self.h("snapshots_offset")
        for _ in range(s):
            extra = self.get(off + 36, ">I")
            idn = self.get(off + 12, ">H")
            name = self.get(off + 14, ">H")
            n = 40 + extra + idn + name
            off += (n + 7) & ~7
        return off

    def a_sl1(self, s, i):
        return self.get(self.a_snap(s), ">Q") + 8 * i

    # the bitmaps extension (v3: header extensions from header_length)
    def bmext(self):
        off = self.h("header_length") if self.get(4, ">I") >= 3 else 72
        for _ in range(10000):
            b = self.rd(off, 8)
            if len(b) < 8:  # (a damaged image: no extension found)
                return 0
            typ, n = struct.unpack(">II", b)
            if typ == 0:
                return 0
            if typ == BM_EXT:
                return off + 8
            off += 8 + ((n + 7) & ~7)
        return 0

    def bme_get(self, name):
        e = self.bmext()
        if not e:
            raise SystemExit("qpoke: no bitmaps extension")
        off, fmt = BME_FIELDS[name]
        return self.get(e + off, fmt)

    def a_bm(self, b):
        off = self.bme_get("dir_offset")
        for _ in range(b):
            ed = self.get(off + 20, ">I")
            ns = self.get(off + 18, ">H")
            off += (24 + ed + ns + 7) & ~7
        return off

    def bm(self, b, fld):
        off, fmt = BM_FIELDS[fld]
        return self.get(self.a_bm(b) + off, fmt)

    def bmname(self, b):
        a = self.a_bm(b)
        return self.rd(a + 24 + self.get(a + 20, ">I"), self.get(a + 18, ">H"))

    def bment(self, b, name=None, extra=None, **fields):
        a = self.a_bm(b)
        v = {k: self.get(a + o, f) for k, (o, f) in BM_FIELDS.items()}
        if name is None:
            name = self.bmname(b)
        if isinstance(name, str):
            name = name.encode()
        if extra is None:
            extra = self.rd(a + 24, v["extra_data_size"])
        v["name_size"] = len(name)
        v["extra_data_size"] = len(extra)
        v.update(fields)
        e = struct.pack(">QIIBBHI", v["table_offset"], v["table_size"],
                        v["flags"], v["type"], v["granularity_bits"],
                        v["name_size"] & 0xffff, v["extra_data_size"])
        e += extra + name
        return e + bytes(-len(e) % 8)

    def data(self, g):
        l2_entries = self.cs() // self.l2_entry_size()
        return self.get(self.a_l2(g // l2_entries, g % l2_entries), ">Q") & MASK

    def namespace(self):
        g = self.get
        ns = {
            "ext": ext, "be16": lambda v: struct.pack(">H", v),
            "be32": lambda v: struct.pack(">I", v),
            "be64": lambda v: struct.pack(">Q", v),
            "COPIED": COPIED, "COMPRESSED": COMPRESSED, "ZERO": ZERO,
            "MASK": MASK, "eof": self.eof(),
            "rd": self.rd,
            "u8": lambda o: g(o, ">B"), "u16": lambda o: g(o, ">H"),
            "u32": lambda o: g(o, ">I"), "u64": lambda o: g(o, ">Q"),
        }
        if self.rd(0, 4) == b"QFI\xfb" and self.get(4, ">I") >= 2:
            ns.update({
                "cs": self.cs(), "cb": self.cb(), "size": self.h("size"),
                "l1_off": self.h("l1_table_offset"), "l1_size": self.h("l1_size"),
                "rt_off": self.h("refcount_table_offset"),
                "rt_clusters": self.h("refcount_table_clusters"),
                "snap_off": self.h("snapshots_offset"),
                "nb_snap": self.h("nb_snapshots"), "hlen": self.h("header_length"),
                "l1": lambda i: g(self.a_l1(i), ">Q"),
                "l2": lambda i, j: g(self.a_l2(i, j), ">Q"),
                "l2bm": lambda i, j: g(self.a_l2(i, j) + 8, ">Q"),
                "l2off": self.l2off, "data": self.data,
                "rt": lambda i: g(self.a_rt(i), ">Q"), "rb": self.rb,
                "rc": self.rc,
                "snap": lambda s, fld: g(self.a_snap(s) + SNAP_FIELDS[fld][0],
                                          SNAP_FIELDS[fld][1]),
                "sl1": lambda s, i: g(self.a_sl1(s, i), ">Q"),
                "bmext": self.bmext(), "bm": self.bm, "bmname": self.bmname,
                "bmt": lambda b, i: g(self.bm(b, "table_offset") + 8 * i, ">Q"),
                "bment": self.bment,
            })
            if ns["bmext"]:
                ns.update({"bmdir": self.bme_get("dir_offset"),
                           "bmdir_size": self.bme_get("dir_size"),
                           "nb_bm": self.bme_get("nb_bitmaps")})
        elif self.rd(0, 4) == b"QFI\xfb":
            cb = self.get(32, ">B")
            ns.update({"cs": 1 << cb, "cb": cb, "size": self.get(24, ">Q"),
                       "l1_off": self.get(40, ">Q"),
                       "q1l1": lambda i: g(self.a_q1l1(i), ">Q"),
                       "q1l2": lambda i, j: g(self.a_q1l2(i, j), ">Q")})
        return ns

    # qcow v1: L1 at l1_table_offset, L2 tables of 2^l2_bits entries
    def a_q1l1(self, i):
        return self.get(40, ">Q") + 8 * i

    def a_q1l2(self, i, j):
        off = self.get(self.a_q1l1(i), ">Q")
        if not off:
            raise SystemExit(f"qpoke: qcow L1 entry {i} has no L2 table")
        return off + 8 * j

    # an assignment target: (getter, setter)
    def target(self, t):
        m = re.fullmatch(r"(h|q1)\.(\w+)", t)
        if m:
            table = QCOW2_FIELDS if m[1] == "h" else QCOW1_FIELDS
            off, fmt = table[m[2]]
            return self.ref(off, fmt)
        m = re.fullmatch(r"(u8|u16|u32|u64)@(.+)", t)
        if m:
            fmt = {"u8": ">B", "u16": ">H", "u32": ">I", "u64": ">Q"}[m[1]]
            return self.ref(self.ev(m[2]), fmt)
        m = re.fullmatch(r"raw@(.+)", t)
        if m:
            off = self.ev(m[1])
            return (lambda: b""), (lambda v: self.wr(off, v))
        if t == "eof":
            return self.eof, self.f.truncate
        m = re.fullmatch(r"l1\[(.+?)\]", t)
        if m:
            return self.ref(self.a_l1(self.ev(m[1])), ">Q")
        m = re.fullmatch(r"(l2|l2bm)\[(.+?)\]\[(.+?)\]", t)
        if m:
            a = self.a_l2(self.ev(m[2]), self.ev(m[3]))
            return self.ref(a + (8 if m[1] == "l2bm" else 0), ">Q")
        m = re.fullmatch(r"q1l1\[(.+?)\]", t)
        if m:
            return self.ref(self.a_q1l1(self.ev(m[1])), ">Q")
        m = re.fullmatch(r"q1l2\[(.+?)\]\[(.+?)\]", t)
        if m:
            return self.ref(self.a_q1l2(self.ev(m[1]), self.ev(m[2])), ">Q")
        m = re.fullmatch(r"rt\[(.+?)\]", t)
        if m:
            return self.ref(self.a_rt(self.ev(m[1])), ">Q")
        m = re.fullmatch(r"rc\[(.+?)\]", t)
        if m:
            c = self.ev(m[1])
            return (lambda: self.rc(c)), (lambda v: self.set_rc(c, v))
        m = re.fullmatch(r"bme\.(\w+)", t)
        if m:
            off, fmt = BME_FIELDS[m[1]]
            if not self.bmext():
                raise SystemExit("qpoke: no bitmaps extension")
            return self.ref(self.bmext() + off, fmt)
        m = re.fullmatch(r"bm\[(.+?)\]\.(\w+)", t)
        if m:
            off, fmt = BM_FIELDS[m[2]]
            return self.ref(self.a_bm(self.ev(m[1])) + off, fmt)
        m = re.fullmatch(r"bmt\[(.+?)\]\[(.+?)\]", t)
        if m:
            b, i = self.ev(m[1]), self.ev(m[2])
            return self.ref(self.bm(b, "table_offset") + 8 * i, ">Q")
        m = re.fullmatch(r"snap\[(.+?)\]\.(\w+)", t)
        if m:
            off, fmt = SNAP_FIELDS[m[2]]
            return self.ref(self.a_snap(self.ev(m[1])) + off, fmt)
        m = re.fullmatch(r"sl1\[(.+?)\]\[(.+?)\]", t)
        if m:
            return self.ref(self.a_sl1(self.ev(m[1]), self.ev(m[2])), ">Q")
        raise SystemExit(f"qpoke: unknown target {t!r}")

    def ref(self, off, fmt):
        return (lambda: self.get(off, fmt)), (lambda v: self.put(off, fmt, v))

    def ev(self, expr, **extra):
        ns = self.namespace()
        ns.update(extra)
        ns["__builtins__"] = {"len": len, "bytes": bytes, "hex": hex,
                              "min": min, "max": max, "range": range}
        return eval(expr, ns)

    def assign(self, a):
        m = re.fullmatch(r"\s*(\S+?)\s*(\|=|&=|\^=|\+=|-=|=)(.*)", a, re.S)
        if not m:
            raise SystemExit(f"qpoke: not an assignment: {a!r}")
        getter, setter = self.target(m[1])
        op = m[2]
        old = getter()
        v = self.ev(m[3], E=old)
        if op != "=":
            v = {"|=": old | v, "&=": old & v, "^=": old ^ v,
                 "+=": old + v, "-=": old - v}[op]
        setter(v)
        self.f.flush()

    def layout(self):
        ns = self.namespace()
        for k in ("cs", "size", "l1_off", "l1_size", "rt_off", "rt_clusters",
                  "snap_off", "nb_snap", "eof"):
            if k in ns:
                print(f"{k}={ns[k]:#x}")
        if "l1" not in ns:
            return
        for i in range(min(self.h("l1_size"), 64)):
            e = ns["l1"](i)
            if e:
                print(f"l1[{i}]={e:#x}")
        for i in range(min(self.h("refcount_table_clusters") * self.cs() // 8, 64)):
            e = ns["rt"](i)
            if e:
                print(f"rt[{i}]={e:#x}")


def batch():
    """One image per line; a failing line is reported, the rest still run."""
    import shlex
    rc = 0
    for line in sys.stdin:
        words = shlex.split(line)
        if not words:
            continue
        try:
            img = Img(words[0])
            for a in words[1:]:
                img.assign(a)
            img.f.close()
        except (SystemExit, Exception) as e:  # noqa: BLE001
            print(f"qpoke: {words[0]}: {e}", file=sys.stderr)
            rc = 1
    return rc


def main(argv):
    if len(argv) == 2 and argv[1] == "--batch":
        return batch()
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    img = Img(argv[1])
    if argv[2] == "--get":
        v = img.ev(argv[3])
        print(v if not isinstance(v, bytes) else v.hex())
        return 0
    if argv[2] == "--layout":
        img.layout()
        return 0
    for a in argv[2:]:
        img.assign(a)
    img.f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

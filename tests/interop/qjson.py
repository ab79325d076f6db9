#!/usr/bin/env python3
"""Compare qemu-img JSON output (the reference) with ours.

usage: qjson.py map|info|check|keys REF.json OURS.json
       qjson.py get FILE KEY[.KEY...]     print one value (JSON-encoded)
       qjson.py mkdata FILE SIZE SEED [compressible]

map:   both must be lists of the same length; entry i of ours must have
       every key of entry i of the reference with an equal value; an extra
       key is an error (qemu-img 7.2 prints no "compressed").
info:  every key the reference prints must be present and equal in ours,
       recursively (dicts: subset; lists: same length, element by element).
check: the same key set and the same values.
keys:  the same key sets, recursively; values are not compared.
Values are compared strictly: true is not 1, 1 is not "1".
Exit status: 0 equal, 1 different (differences on stdout), 2 usage or
unreadable/unparsable input.
"""
import json
import random
import sys

MAX_REPORT = 8


def load(path, who):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        print(f"{who}: cannot read {path}: {e}")
        sys.exit(2 if who == "reference" else 1)
    try:
        return json.loads(text)
    except ValueError as e:
        snippet = text[:200].replace("\n", "\\n")
        print(f"{who}: not valid JSON ({e}): '{snippet}'")
        sys.exit(2 if who == "reference" else 1)


def same(a, b):
    """Strict equality: bool, int, float, str and null never mix."""
    return type(a) is type(b) and a == b


def show(v):
    return json.dumps(v, sort_keys=True)


def subset(ref, ours, path, diffs, exact):
    """Record in diffs every place where ours does not match ref."""
    if isinstance(ref, dict):
        if not isinstance(ours, dict):
            diffs.append(f"{path or '<top>'}: expected an object, got {show(ours)}")
            return
        for k, v in ref.items():
            p = f"{path}.{k}" if path else k
            if k not in ours:
                diffs.append(f"{p}: missing (qemu-img: {show(v)})")
            else:
                subset(v, ours[k], p, diffs, exact)
        if exact:
            for k in ours:
                if k not in ref:
                    p = f"{path}.{k}" if path else k
                    diffs.append(f"{p}: extra key (ours: {show(ours[k])})")
    elif isinstance(ref, list):
        if not isinstance(ours, list):
            diffs.append(f"{path or '<top>'}: expected a list, got {show(ours)}")
            return
        if len(ref) != len(ours):
            diffs.append(f"{path or '<top>'}: list length {len(ours)}, "
                         f"qemu-img has {len(ref)}")
        for i, (r, o) in enumerate(zip(ref, ours)):
            subset(r, o, f"{path}[{i}]", diffs, exact)
    else:
        if not same(ref, ours):
            diffs.append(f"{path or '<top>'}: ours {show(ours)}, "
                         f"qemu-img {show(ref)}")


def cmp_map(ref, ours):
    diffs = []
    if not isinstance(ref, list):
        print("reference: map output is not a list")
        return 2
    if not isinstance(ours, list):
        print(f"ours: map output is not a list: {show(ours)[:200]}")
        return 1
    for i in range(max(len(ref), len(ours))):
        r = ref[i] if i < len(ref) else None
        o = ours[i] if i < len(ours) else None
        if r is None:
            diffs.append(f"[{i}] extra extent in ours: {show(o)}")
            continue
        if o is None:
            diffs.append(f"[{i}] missing extent, qemu-img: {show(r)}")
            continue
        if not isinstance(o, dict):
            diffs.append(f"[{i}] not an object: {show(o)}")
            continue
        bad = [k for k in r if k not in o or not same(r[k], o[k])]
        bad += [k for k in o if k not in r]
        if bad:
            diffs.append(f"[{i}] keys {','.join(bad)} differ:\n"
                         f"    qemu-img: {show(r)}\n    ours:     {show(o)}")
    if len(ref) != len(ours):
        diffs.insert(0, f"{len(ours)} extents, qemu-img has {len(ref)}")
    return report(diffs)


def report(diffs):
    for d in diffs[:MAX_REPORT]:
        print(d)
    if len(diffs) > MAX_REPORT:
        print(f"... and {len(diffs) - MAX_REPORT} more differences")
    return 1 if diffs else 0


def get(path, keys):
    v = load(path, "input")
    for k in keys.split(".") if keys else []:
        if isinstance(v, list):
            v = v[int(k)]
        else:
            v = v[k]
    print(json.dumps(v))
    return 0


def mkdata(path, size, seed, kind):
    """Deterministic test data: random bytes, or text-like compressible."""
    r = random.Random(seed)
    if kind == "compressible":
        words = [b"qcow2", b"cluster", b"refcount", b"L2", b"table", b"zero",
                 b"snapshot", b"backing", b"\x00\x00\x00\x00", b"\xff"]
        out = bytearray()
        n = 0
        while len(out) < size:
            out += r.choice(words) + b" %d\n" % n
            n += 1
        data = bytes(out[:size])
    else:
        data = r.randbytes(size)
    with open(path, "wb") as f:
        f.write(data)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "get":
        return get(argv[2], argv[3] if len(argv) > 3 else "")
    if len(argv) >= 5 and argv[1] == "mkdata":
        kind = argv[5] if len(argv) > 5 else "random"
        return mkdata(argv[2], int(argv[3]), int(argv[4]), kind)
    if len(argv) != 4 or argv[1] not in ("map", "info", "check", "keys"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ref = load(argv[2], "reference")
    ours = load(argv[3], "ours")
    if argv[1] == "map":
        return cmp_map(ref, ours)
    diffs = []
    if argv[1] == "keys":
        ref, ours = shape(ref), shape(ours)
    subset(ref, ours, "", diffs, exact=(argv[1] != "info"))
    return report(diffs)


def shape(v):
    """v with every scalar replaced by null: only the key structure left."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv))

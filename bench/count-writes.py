#!/usr/bin/env python3
# count-writes.py TRACE MAP_JSON IMAGE COUNT SIZE: from an `strace -f -y`
# of a write bench (COUNT writes of SIZE bytes) and `qemu-img map
# --output=json` of the image afterwards, prints
#   bytes written to IMAGE per guest byte,
#   writes to IMAGE outside its data clusters (metadata) per 1,000 guest writes,
#   fsync/fdatasync calls on IMAGE per 1,000 guest writes.
import json
import re
import sys

trace, map_json, image, count, size = sys.argv[1:6]
count, size = int(count), int(size)
data = [(e["offset"], e["offset"] + e["length"])
        for e in json.load(open(map_json))
        if e.get("data") and e.get("depth") == 0 and "offset" in e]


def in_data(off):
    return any(s <= off < e for s, e in data)


pending = {}
lines = []
for raw in open(trace, errors="replace"):
    raw = raw.rstrip("\n")
    m = re.match(r"(\d+)\s+(.*)$", raw)
    pid, body = (m.group(1), m.group(2)) if m else ("", raw)
    if body.endswith("<unfinished ...>"):
        pending[pid] = body[: -len("<unfinished ...>")].rstrip()
        continue
    r = re.match(r"<\.\.\. \w+ resumed>(.*)$", body)
    if r and pid in pending:
        body = pending.pop(pid) + r.group(1)
    lines.append(body)

suffix = "/" + image.split("/")[-1] + ">"
written = meta = syncs = 0
for body in lines:
    call = re.match(r"(\w+)\(\d+<([^>]*)>", body)
    if not call or not (call.group(2) + ">").endswith(suffix):
        continue
    name = call.group(1)
    if name in ("fsync", "fdatasync"):
        syncs += 1
        continue
    m = (re.search(r", (\d+), [^,()]+\)\s+= (\d+)$", body)
         if name == "pwritev2" else
         re.search(r", (\d+)\)\s+= (\d+)$", body))
    if not m:
        continue
    off, n = int(m.group(1)), int(m.group(2))
    written += n
    if not in_data(off):
        meta += 1
print("%.3f %.1f %.1f" % (written / (count * size), meta * 1000.0 / count,
                          syncs * 1000.0 / count))

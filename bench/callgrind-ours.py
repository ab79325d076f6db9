#!/usr/bin/env python3
# callgrind-ours.py TOP CALLGRIND_OUT: "OURS TOTAL", the instructions counted
# in functions of the project's sources (TOP/qcow, TOP/tools, TOP/include:
# the engine and the tool, liburing and libc left out) and in all of user
# space, from callgrind_annotate's per-function (exclusive) costs.
import re
import subprocess
import sys

top, path = sys.argv[1].rstrip("/"), sys.argv[2]
out = subprocess.run(["callgrind_annotate", "--inclusive=no",
                      "--threshold=100", path], capture_output=True,
                     text=True, check=True).stdout
ours = total = 0
prefixes = ("qcow/", "tools/", "include/")
for line in out.splitlines():
    m = re.match(r"\s*([\d,]+)\s+(\([^)]*\)\s+)?(\S.*)$", line)
    if not m:
        continue
    ir = int(m.group(1).replace(",", ""))
    what = m.group(3)
    if what.startswith(top + "/"):
        what = what[len(top) + 1:]
    if what.startswith("PROGRAM TOTALS"):
        total = ir
    elif what.startswith(prefixes):
        ours += ir
print(ours, total)

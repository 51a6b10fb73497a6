#!/usr/bin/env python3
"""Per-kernel totals of an `ncu --csv --page raw --metrics gpu__time_duration.sum` report.

Usage: ncu_summary.py REPORT [LABEL [FIRST COUNT]]. REPORT is ncu's output (other lines are skipped);
FIRST and COUNT pick a range of its launches (say, one forward pass). Prints each kernel's
launches, total and share of the time, largest first; kernels are named without their template
arguments and parameters.
"""
import csv
import re
import sys
from collections import defaultdict


def short(name):
    # The tiled product serves several layers: keep its output type (LinearOutput, SwigluOutput, ...).
    output = re.search(r"tiled_matmul_kernel<.*?(\w+Output)", name)
    if output:
        return f"tiled_matmul_kernel<{output.group(1)}>"
    name = re.sub(r"\(.*$", "", name)           # parameters
    while "<" in name:                          # template arguments, innermost first
        name = re.sub(r"<[^<>]*>", "", name)
    return name.split("::")[-1].removeprefix("void ")


def main():
    metric = "gpu__time_duration.sum"
    rows = list(csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')))
    unit = next((r[metric] for r in rows if not r["ID"].isdigit()), "nsecond")  # the units row
    to_ns = {"nsecond": 1, "ns": 1, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}[unit]
    rows = [r for r in rows if r["ID"].isdigit()]
    if len(sys.argv) > 4:
        first, count = int(sys.argv[3]), int(sys.argv[4])
        rows = rows[first:first + count]
    if not rows:
        sys.exit(f"{sys.argv[1]}: no kernel rows")
    total = defaultdict(float)
    count = defaultdict(int)
    for r in rows:
        k = short(r["Kernel Name"])
        total[k] += float(r[metric].replace(",", "")) * to_ns
        count[k] += 1
    whole = sum(total.values())
    label = sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]
    print(f"{label}: {len(rows)} launches, {whole / 1e3:.1f} us of kernel time")
    for k in sorted(total, key=total.get, reverse=True):
        print(f"  {k:32s} {count[k]:5d} launches {total[k] / 1e3:10.1f} us {100 * total[k] / whole:5.1f}%")


main()

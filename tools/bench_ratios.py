#!/usr/bin/env python3
"""Print criterion results as ratios: for every benchmark group, each
function's time relative to the `loss-kernels` one at the same parameter.

usage: python3 tools/bench_ratios.py [target/criterion] [group-prefix]
"""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
prefix = sys.argv[2] if len(sys.argv) > 2 else ""
rows = {}
for dirpath, _, files in os.walk(root):
    if "estimates.json" in files and dirpath.endswith(os.sep + "new"):
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        group, func, param = bench["group_id"], bench.get("function_id"), bench.get("value_str")
        if not group.startswith(prefix):
            continue
        rows.setdefault((group, param), {})[func] = est["median"]["point_estimate"]
for (group, param), funcs in sorted(rows.items()):
    base = funcs.get("loss-kernels")
    parts = []
    for func, t in sorted(funcs.items()):
        ratio = f" ({t / base:5.2f}x)" if base else ""
        parts.append(f"{func} {t / 1e3:9.1f} us{ratio}")
    print(f"{group:32} {param or '':8} " + " | ".join(parts))

#!/usr/bin/env python3
"""Draws the README's speed chart: how many times faster loss-kernels is than
each framework on each workload (value + gradient, one core), from the
measured times in docs/speed/figures.csv.

Regenerate (after editing the figures file with new measurements):

    python3 tools/speed_chart.py

writes docs/speed/speed.svg and prints the figures as a Markdown table.
Options: --figures FILE (default docs/speed/figures.csv), --out FILE
(default docs/speed/speed.svg). Python 3 standard library only.

figures.csv: lines starting with '#' are comments; the columns are
workload, peer, peer_ms, crate_ms, session (any label). Each row is one
peer's time and the crate's time for the same workload, measured in the
same session; the bar is peer_ms / crate_ms. Workloads appear in file
order, peers in the order they first appear.
"""
import argparse
import csv
import math
import sys
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLOURS = ["#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#59a14f", "#b07aa1"]


def read(path):
    lines = [l for l in path.read_text(encoding="utf-8").splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        peer_ms, crate_ms = float(r["peer_ms"]), float(r["crate_ms"])
        if peer_ms <= 0 or crate_ms <= 0:
            sys.exit(f"{path}: times must be > 0: {r}")
        rows.append({**r, "peer_text": r["peer_ms"], "crate_text": r["crate_ms"],
                     "peer_ms": peer_ms, "crate_ms": crate_ms,
                     "speedup": peer_ms / crate_ms})
    if not rows:
        sys.exit(f"{path}: no figures")
    return rows


def nice_step(top):
    """A tick step of 1, 2 or 5 times a power of ten, about 6 ticks to top."""
    raw = top / 6
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def svg(rows):
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    peers = list(dict.fromkeys(r["peer"] for r in rows))
    colour = {p: COLOURS[i % len(COLOURS)] for i, p in enumerate(peers)}
    bar, gap, left, right, top_margin = 16, 12, 200, 60, 58
    plot_w = 760 - left - right
    step = nice_step(max(r["speedup"] for r in rows))
    axis_max = step * math.ceil(max(r["speedup"] for r in rows) / step)
    x = lambda v: left + plot_w * v / axis_max
    n_bars = len(rows)
    height = top_margin + n_bars * bar + len(workloads) * gap + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="760" height="{height}" '
           f'viewBox="0 0 760 {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="760" height="{height}" fill="#ffffff"/>',
           '<text x="380" y="20" text-anchor="middle" font-size="15">'
           'loss-kernels speed-up over the frameworks (value + gradient, one core)</text>']
    # legend
    lx = left
    for p in peers:
        out.append(f'<rect x="{lx}" y="31" width="12" height="12" fill="{colour[p]}"/>')
        out.append(f'<text x="{lx + 16}" y="41">{escape(p)}</text>')
        lx += 24 + 7 * len(p)
    y = top_margin
    plot_top = y
    for w in workloads:
        group = [r for r in rows if r["workload"] == w]
        out.append(f'<text x="{left - 8}" y="{y + len(group) * bar / 2 + 4:.1f}" '
                   f'text-anchor="end">{escape(w)}</text>')
        for r in group:
            out.append(f'<rect x="{left}" y="{y + 1}" width="{x(r["speedup"]) - left:.1f}" '
                       f'height="{bar - 2}" fill="{colour[r["peer"]]}">'
                       f'<title>{escape(r["peer"])}: {r["peer_text"]} ms, loss-kernels '
                       f'{r["crate_text"]} ms</title></rect>')
            out.append(f'<text x="{x(r["speedup"]) + 4:.1f}" y="{y + bar - 4}" '
                       f'font-size="11">{r["speedup"]:.1f}×</text>')
            y += bar
        y += gap
    plot_bottom = y - gap / 2
    # axis, ticks and the 1× line
    tick = 0.0
    while tick <= axis_max + 1e-9:
        out.append(f'<line x1="{x(tick):.1f}" y1="{plot_top - 4}" x2="{x(tick):.1f}" '
                   f'y2="{plot_bottom}" stroke="#000000" stroke-opacity="0.12"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{plot_bottom + 14}" '
                   f'text-anchor="middle" font-size="11">{tick:g}×</text>')
        tick += step
    out.append(f'<line x1="{x(1):.1f}" y1="{plot_top - 4}" x2="{x(1):.1f}" '
               f'y2="{plot_bottom}" stroke="#000000" stroke-dasharray="3,3"/>')
    out.append(f'<line x1="{left}" y1="{plot_top - 4}" x2="{left}" y2="{plot_bottom}" '
               f'stroke="#000000"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{plot_bottom + 30}" text-anchor="middle">'
               'framework time / loss-kernels time (1× = as fast; dashed line)</text>')
    out.append('</svg>')
    return "\n".join(out) + "\n"


def table(rows):
    lines = ["| workload | framework | framework time | loss-kernels | speed-up |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['peer']} | {r['peer_text']} ms | "
                     f"{r['crate_text']} ms | {r['speedup']:.1f}× |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", type=Path, default=ROOT / "docs/speed/figures.csv")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/speed/speed.svg")
    args = ap.parse_args()
    rows = read(args.figures)
    args.out.write_text(svg(rows), encoding="utf-8")
    print(table(rows))
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Draws `gptoss bench --json` results as an SVG line chart (no dependencies beyond Python).

usage: plot_bench.py X_KEY Y_KEY TITLE OUT.svg < lines-of-bench-json

Each input line is one `gptoss bench --json` object; runs with the same "threads" form one line
of the chart (GPU runs another), with X_KEY (e.g. prompt, context) on the x axis and Y_KEY (e.g.
prefill_tokens_per_s) on the y axis.
"""
import json
import sys
from collections import defaultdict

W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 360, 70, 150, 40, 50
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def nice_max(v):
    step = 10 ** len(str(int(v))) / 10 if v >= 1 else 0.1
    return (int(v / step) + 1) * step


def series_name(r):
    """GPU runs form one series; host runs one per thread count."""
    if r.get("backend") == "cuda" or r.get("bandwidth_measured_as", "").startswith("device"):
        return "GPU"
    return f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}"


def main():
    x_key, y_key, title, out = sys.argv[1:5]
    series = defaultdict(list)
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            series[series_name(r)].append((r[x_key], r[y_key]))
    if not series:
        sys.exit("no bench results on standard input")
    xs = sorted({x for pts in series.values() for x, _ in pts})
    y_top = nice_max(max(y for pts in series.values() for _, y in pts))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    # Evenly spaced categories: prompt and context lengths grow geometrically.
    px = {x: LEFT + (i + 0.5) * pw / len(xs) for i, x in enumerate(xs)}
    py = lambda y: TOP + ph * (1 - y / y_top)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    for i in range(6):
        y = y_top * i / 5
        svg.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    for x in xs:
        svg.append(f'<text x="{px[x]:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{x}</text>')
    svg.append(f'<text x="{LEFT + pw / 2}" y="{H - 8}" text-anchor="middle">{x_key} (tokens)</text>')
    svg.append(f'<text x="16" y="{TOP + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {TOP + ph / 2})">'
               f'{y_key.replace("_", " ")}</text>')
    for n, (name, pts) in enumerate(sorted(series.items())):
        pts.sort()
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{px[x]:.1f},{py(y):.1f}" for x, y in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in pts:
            svg.append(f'<circle cx="{px[x]:.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
            svg.append(f'<text x="{px[x]:.1f}" y="{py(y) - 8:.1f}" text-anchor="middle" font-size="10">{y:.2f}</text>')
        svg.append(f'<text x="{LEFT + pw + 12}" y="{TOP + 16 + 18 * n}" fill="{colour}">{name}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()

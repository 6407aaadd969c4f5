#!/usr/bin/env python3
"""Latency percentiles of several `duplex bench --json` reports in one SVG.

    scripts/plot-compare.py -o tcp64.svg --title "TCP 64 B" \\
        duplex=tcp64-duplex.json tokio=tcp64-tokio.json socat=tcp64-socat.json

The JSON report carries min, p50, p90, p99, p99.9 and max of the latency
(`latency_us`; for --connect-rate runs also `connect_latency_us`, which
--connect plots instead), not the whole histogram: each server's curve
joins those six points. The x axis is the percentile on the log scale of
1 / (1 - p) that `duplex bench --plot` uses (0, 50, 90, 99, 99.9 %, then
max); the y axis is latency in µs on a log scale, so that medians and
second-long tails fit in one chart. `--plot` of each run has the full
curve of one server. Python 3 standard library only.
"""

import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 860, 500
LEFT, RIGHT, TOP, BOTTOM = 80, 170, 50, 60
# (key in the report, x position, label): x = log10(1 / (1 - p)).
POINTS = [
    ("min", 0.0, "0%"),
    ("p50", math.log10(2), "50%"),
    ("p90", 1.0, "90%"),
    ("p99", 2.0, "99%"),
    ("p99_9", 3.0, "99.9%"),
    ("max", 4.0, "max"),
]
X_MAX = 4.0
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"]


def load(spec, key):
    name, sep, path = spec.partition("=")
    if not sep:
        sys.exit(f"plot-compare: expected NAME=FILE.json, got {spec!r}")
    with open(path) as f:
        report = json.load(f)
    lat = report.get(key)
    if not lat:
        sys.exit(f"plot-compare: {path} has no {key}")
    pts = [(x, lat[k]) for k, x, _ in POINTS if lat.get(k, 0) > 0]
    return name, pts, report


def number(v):
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}"


def svg(curves, title):
    values = [v for _, pts, _ in curves for _, v in pts]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 1
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 1000
    if hi <= lo:
        hi = lo * 10
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x):
        return LEFT + x / X_MAX * pw

    def sy(v):
        return TOP + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT + pw / 2:.1f}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    decade = lo
    while decade <= hi * 1.0001:
        y = sy(decade)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{number(decade)}</text>')
        decade *= 10
    for _, x, label in POINTS:
        px = sx(x)
        out.append(f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{TOP + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{px:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 16}" text-anchor="middle">percentile</text>')
    out.append(f'<text x="20" y="{TOP + ph / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 20 {TOP + ph / 2:.1f})">latency µs (log scale)</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for i, (name, pts, report) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        line = " ".join(f"{sx(x):.1f},{sy(v):.1f}" for x, v in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, v in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(v):.1f}" r="3" fill="{colour}">'
                       f'<title>{escape(name)}: {number(v)} µs</title></circle>')
        ly = TOP + 10 + i * 34
        lx = LEFT + pw + 14
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 4}">{escape(name)}</text>')
        rate = report.get("connects_per_sec") or report.get("messages_per_sec") or 0
        out.append(f'<text x="{lx + 28}" y="{ly + 18}" fill="#555" font-size="10">{rate:,.0f}/s</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("curves", nargs="+", metavar="NAME=FILE.json")
    ap.add_argument("-o", "--output", required=True, metavar="FILE.svg")
    ap.add_argument("--title", default="latency")
    ap.add_argument("--connect", action="store_true",
                    help="plot connect_latency_us instead of latency_us")
    args = ap.parse_args()
    key = "connect_latency_us" if args.connect else "latency_us"
    curves = [load(spec, key) for spec in args.curves]
    with open(args.output, "w") as f:
        f.write(svg(curves, args.title))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turns `w8a8-bench --time` lines (device-check.sh time's time.txt) into a tune JSON for make_selection_table.py.

A time run measures chosen kernels (cuBLASLt among them) on chosen shapes, each twice, alternating; as tune rows
those measurements replace the table's groups for exactly those (shape, accumulation, scale kind) when given as
make_selection_table.py's tune JSON, while --fallback keeps every other group from the full tune. Each kernel's
rows are kept as measured (the table takes the fastest of each side, cuBLASLt included). "auto" and "unfused" rows
are left out: auto is the table being replaced, unfused cannot be chosen.

Usage: time_to_tune.py TIME_TXT --device NAME [--reps N] > tune.json
"""
import argparse
import json
import re
import sys

LINE = re.compile(r"^time M=(\d+) N=(\d+) K=(\d+) (promoted|fast) (per_tensor|rowwise) (\S+)\s+([0-9.]+) us")


def parse(text):
    """Every `time` line as a row {M, N, K, fast, vec, kernel, us}, in order (auto and unfused included)."""
    rows = []
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m:
            rows.append({"M": int(m.group(1)), "N": int(m.group(2)), "K": int(m.group(3)), "fast": m.group(4) == "fast",
                         "vec": m.group(5) == "rowwise", "kernel": m.group(6), "us": float(m.group(7))})
    return rows


def rows_of(text):
    return [r for r in parse(text) if r["kernel"] not in ("auto", "unfused")]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("time_txt")
    p.add_argument("--device", required=True, help="CUDA's device name, as the tune JSONs and the table spell it")
    p.add_argument("--reps", type=int, default=50)
    args = p.parse_args()
    with open(args.time_txt) as f:
        rows = rows_of(f.read())
    json.dump({"device": args.device, "reps": args.reps, "source": "w8a8-bench --time", "tune": rows}, sys.stdout,
              indent=0)
    print()


if __name__ == "__main__":
    main()

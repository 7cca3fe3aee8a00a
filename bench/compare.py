#!/usr/bin/env python3
"""Side-by-side table of w8a8-bench and torch_baseline.py results from the same run: ratios vs torch.

Usage: compare.py W8A8_JSON TORCH_JSON, or compare.py --torch-only TORCH_JSON."""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    if sys.argv[1] == "--torch-only":  # device-check's time mode: torch's rows alone, to set beside `time` lines
        theirs = load(sys.argv[2])
        print(f"device: {theirs.get('device')}  torch {theirs.get('torch')}")
        for r in theirs["rows"]:
            print(f"torch M={r['M']} N={r['N']} K={r['K']} {r['variant']:20} {r['us']:9.1f} us {r['tflops']:7.1f} TFLOPS")
        return
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    torch_rows = {(r["variant"], r["M"], r["N"], r["K"]): r for r in theirs["rows"]}
    print(f"device: {ours.get('device')}  torch {theirs.get('torch')}")
    print(f"{'op':18} {'variant':20} {'M':>6} {'N':>6} {'K':>6} {'us':>9} {'torch us':>9} {'speedup':>8}")
    for r in ours["rows"]:
        if r["op"] == "w8a8.quant":
            key = ("bf16", r["M"], 0, r["K"]) if r["variant"] == "per_token" else None
        else:
            key = (r["variant"], r["M"], r["N"], r["K"])
        t = torch_rows.get(key) if key else None
        tus = f"{t['us']:9.1f}" if t else " " * 9
        ratio = f"{t['us'] / r['us']:7.2f}x" if t else ""
        print(f"{r['op']:18} {r['variant']:20} {r['M']:6} {r['N']:6} {r['K']:6} {r['us']:9.1f} {tus} {ratio}")


if __name__ == "__main__":
    main()

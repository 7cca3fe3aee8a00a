#!/usr/bin/env python3
"""Turns bench/layer_vs_torch.py's kernel rows into a tune JSON for make_selection_table.py.

Each kernel row measured, alternating in one process, w8a8's choice (a configuration of this build, or cuBLASLt)
against torch._scaled_mm, which is cuBLASLt called as w8a8's cuBLASLt backend calls it (same library, same 1 MiB
workspace): so the row gives two tune measurements of its (shape, accumulation, scale kind): the chosen
configuration's time and cuBLASLt's (torch's time). make_selection_table.py then keeps a configuration only where
it beat cuBLASLt by its margin. Rows where w8a8 ran cuBLASLt give cuBLASLt's time alone (the faster of the two
measurements of the same kernel). Blockwise rows are left out (cuBLASLt is the only blockwise backend).

Usage: layer_to_tune.py LAYER_JSON... [--reps N] > tune.json
"""
import argparse
import json
import re
import sys

CHOICE = re.compile(r"^(cutlass|cublaslt)(?: (\S+))?(?: \[(\S+)\])?$")


def rows_of(layer_rows):
    out = []
    for r in layer_rows:
        if r.get("table") != "kernel" or r.get("scheme") not in ("per_tensor", "rowwise"):
            continue
        if "w8a8_us" not in r or "torch_us" not in r or r.get("torch_ref") != "torch._scaled_mm":
            continue
        m = CHOICE.match(r["choice"])
        if not m:
            continue
        base = {"M": r["M"], "N": r["N"], "K": r["K"], "fast": r["acc"] == "fast", "vec": r["scheme"] == "rowwise"}
        if m.group(1) == "cutlass":
            kernel = m.group(2) + (":" + m.group(3) if m.group(3) else "")
            out.append({**base, "kernel": kernel, "us": r["w8a8_us"]})
            out.append({**base, "kernel": "cublaslt", "us": r["torch_us"]})
        else:
            out.append({**base, "kernel": "cublaslt", "us": min(r["w8a8_us"], r["torch_us"])})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("layer_json", nargs="+")
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    rows, device = [], None
    for path in args.layer_json:
        d = json.load(open(path))
        device = device or d["device"]
        if d["device"] != device:
            sys.exit(f"{path}: measured on {d['device']}, not {device}")
        rows += rows_of(d["rows"])
    json.dump({"device": device, "reps": args.reps, "tune": rows}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

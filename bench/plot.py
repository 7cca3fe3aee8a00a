#!/usr/bin/env python3
"""Plots from w8a8-bench / torch_baseline.py JSON: TFLOPS vs M and weight bandwidth vs M per (N, K).

usage: bench/plot.py W8A8_JSON TORCH_JSON OUT_PREFIX   (needs matplotlib)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(rows, op, variant, n, k):
    pts = sorted((r["M"], r) for r in rows if r["op"] == op and r["variant"] == variant and r["N"] == n and r["K"] == k)
    return [m for m, _ in pts], [r for _, r in pts]


def main():
    ours = json.load(open(sys.argv[1]))["rows"]
    torch = json.load(open(sys.argv[2]))["rows"]
    prefix = sys.argv[3]
    shapes = sorted({(r["N"], r["K"]) for r in ours if r["op"] != "w8a8.quant"})
    for metric, label, fname in (("tflops", "TFLOPS", "tflops"), ("tbps", "TB/s (operands + output)", "bandwidth")):
        fig, axes = plt.subplots(1, len(shapes), figsize=(4.2 * len(shapes), 3.6), squeeze=False)
        for ax, (n, k) in zip(axes[0], shapes):
            for rows, op, variant, style in ((ours, "w8a8.auto", "per_tensor", "P-"),
                                             (ours, "w8a8.auto", "rowwise", "X-"),
                                             (ours, "w8a8.cublaslt", "per_tensor", "o-"),
                                             (ours, "w8a8.cublaslt", "rowwise", "s-"),
                                             (ours, "w8a8.unfused", "rowwise", "^-"),
                                             (ours, "w8a8.cublaslt", "blockwise", "d-"),
                                             (torch, "torch._scaled_mm", "per_tensor", "o--"),
                                             (torch, "torch._scaled_mm", "rowwise", "s--")):
                ms, rs = series(rows, op, variant, n, k)
                if ms:
                    ax.plot(ms, [r[metric] for r in rs], style, label=f"{op} {variant}", markersize=4)
            ax.set_xscale("log", base=2)
            ax.set_title(f"N={n} K={k}")
            ax.set_xlabel("M")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(f"{prefix}-{fname}.png", dpi=110)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Plots `w8a8-bench --time` lines (device-check.sh time's time.txt): per (shape, accumulation, scales), each
kernel's speed relative to cuBLASLt timed alternately in the same process (cuBLASLt µs / kernel µs, mean of rounds).

usage: bench/plot_time.py TIME_TXT OUT_PNG [TITLE]   (needs matplotlib)
"""
import collections
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from time_to_tune import parse  # noqa: E402  (bench/, beside this script)


def groups(text):
    g = collections.OrderedDict()
    for r in parse(text):
        key = f"{r['M']}x{r['N']}x{r['K']} {'fast' if r['fast'] else 'promoted'} {'rowwise' if r['vec'] else 'per_tensor'}"
        g.setdefault(key, collections.OrderedDict()).setdefault(r["kernel"], []).append(r["us"])
    return {k: v for k, v in g.items() if "cublaslt" in v and len(v) > 1}


def main():
    g = groups(open(sys.argv[1]).read())
    cols = 2
    rows = (len(g) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.3 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(g):]:
        ax.axis("off")
    for ax, (key, kernels) in zip(axes.flat, g.items()):
        ref = sum(kernels["cublaslt"]) / len(kernels["cublaslt"])
        names = [k for k in kernels if k != "cublaslt"]
        ratios = [ref / (sum(kernels[k]) / len(kernels[k])) for k in names]
        colors = ["tab:green" if r >= 1 else "tab:red" for r in ratios]
        ax.barh(range(len(names)), ratios, color=colors)
        ax.set_yticks(range(len(names)), [n.replace("bf16_", "") for n in names], fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlim(0.4, max(1.3, max(ratios) + 0.05))
        ax.set_title(f"{key}: cuBLASLt {ref:.1f} us = 1.0", fontsize=8)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
    fig.supxlabel("speed relative to cuBLASLt in the same process (higher is faster)", fontsize=8)
    if len(sys.argv) > 3:
        fig.suptitle(sys.argv[3], fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Ratio tables (markdown) and a ratio-vs-M plot from bench/layer_vs_torch.py JSON files (rows merged in order;
a later file's row replaces an earlier one's of the same table, scheme, accumulation and shape).

usage: bench/layer_report.py LAYER_JSON... [--md OUT.md] [--plot OUT.png (needs matplotlib)] [--tie 0.02]
"""
import argparse
import json
import math

SCHEME_NAMES = {"static": "static per-tensor", "dynamic": "dynamic per-tensor", "token": "dynamic per-token x per-channel",
                "block": "1x128 x 128x128 blockwise", "per_tensor": "per-tensor", "rowwise": "rowwise",
                "blockwise": "blockwise"}


def load(paths):
    rows, meta = {}, None
    for p in paths:
        d = json.load(open(p))
        meta = meta or d
        for r in d["rows"]:
            rows[(r["table"], r["scheme"], r["acc"], r["N"], r["K"], r["M"])] = r
    return meta, list(rows.values())


def cell(r, tie):
    if "ratio" not in r:
        return "—"
    s = f"{r['ratio']:.2f}"
    if r["torch_ref"] != "torch._scaled_mm":
        s += "ᶠ"  # against bf16 F.linear
    if r["ratio"] < 1 - tie:
        return f"**{s}**"
    return s + ("ᵗ" if r["ratio"] < 1 else "")


def markdown(meta, rows, tie):
    out = [f"Device: {meta['device']}, torch {meta['torch']}. ratio = torch µs / w8a8 µs (> 1: w8a8 faster); "
           f"ᵗ a tie (within {tie:.0%}), **bold** a loss, ᶠ the reference is bf16 F.linear (torch._scaled_mm cannot "
           "run the case).", ""]
    for table in ("layer", "kernel"):
        groups = sorted({(r["scheme"], r["acc"]) for r in rows if r["table"] == table},
                        key=lambda g: (list(SCHEME_NAMES).index(g[0]), g[1] != "promoted"))
        for scheme, acc in groups:
            rs = [r for r in rows if r["table"] == table and r["scheme"] == scheme and r["acc"] == acc]
            ms = sorted({r["M"] for r in rs})
            shapes = sorted({(r["N"], r["K"]) for r in rs}, key=lambda s: (s[1], s[0]))
            out.append(f"**{table}, {SCHEME_NAMES[scheme]}, {acc}**")
            out.append("")
            out.append("| N×K \\ M | " + " | ".join(map(str, ms)) + " |")
            out.append("|---|" + "---:|" * len(ms))
            by = {(r["N"], r["K"], r["M"]): r for r in rs}
            for n, k in shapes:
                out.append(f"| {n}×{k} | " + " | ".join(cell(by[(n, k, m)], tie) if (n, k, m) in by else "" for m in ms)
                           + " |")
            out.append("")
    return out


def summary(rows, tie):
    out = []
    for table in ("layer", "kernel"):
        rs = [r for r in rows if r["table"] == table and "ratio" in r]
        if not rs:
            continue
        lose = sorted((r for r in rs if r["ratio"] < 1 - tie), key=lambda r: r["ratio"])
        ties = [r for r in rs if 1 - tie <= r["ratio"] < 1]
        gm = math.exp(sum(math.log(r["ratio"]) for r in rs) / len(rs))
        out.append(f"- {table}: {len(rs)} rows; {len(rs) - len(lose) - len(ties)} >= 1.00x, {len(ties)} ties, "
                   f"{len(lose)} below {1 - tie:.2f}x; geomean {gm:.2f}x, min {min(r['ratio'] for r in rs):.2f}x")
        for r in lose:
            out.append(f"  - {SCHEME_NAMES[r['scheme']]} {r['acc']} N={r['N']} K={r['K']} M={r['M']}: {r['ratio']:.3f} "
                       f"({r['w8a8_us']:.1f} vs {r['torch_us']:.1f} µs; runs {r['choice']}"
                       + ("; vs F.linear" if r["torch_ref"] != "torch._scaled_mm" else "") + ")")
    return out


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = [("layer", s, "promoted") for s in ("static", "dynamic", "token", "block")] + \
             [("kernel", s, a) for s in ("per_tensor", "rowwise") for a in ("promoted", "fast")] + \
             [("kernel", "blockwise", "promoted")]
    groups = [g for g in groups if any((r["table"], r["scheme"], r["acc"]) == g for r in rows)]
    cols = 3
    fig, axes = plt.subplots(-(-len(groups) // cols), cols, figsize=(5.2 * cols, 3.4 * -(-len(groups) // cols)),
                             squeeze=False)
    for ax, (table, scheme, acc) in zip(axes.flat, groups):
        rs = [r for r in rows if (r["table"], r["scheme"], r["acc"]) == (table, scheme, acc) and "ratio" in r]
        for n, k in sorted({(r["N"], r["K"]) for r in rs}):
            pts = sorted((r["M"], r["ratio"]) for r in rs if (r["N"], r["K"]) == (n, k))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, lw=1, label=f"{n}x{k}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{table}: {SCHEME_NAMES[scheme]}, {acc}", fontsize=9)
        ax.set_xlabel("M")
        ax.set_ylabel("torch / w8a8")
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="+")
    p.add_argument("--md")
    p.add_argument("--plot")
    p.add_argument("--tie", type=float, default=0.02)
    args = p.parse_args()
    meta, rows = load(args.json)
    text = summary(rows, args.tie) + [""] + markdown(meta, rows, args.tie)
    if args.md:
        open(args.md, "w").write("\n".join(text) + "\n")
    else:
        print("\n".join(summary(rows, args.tie)))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The layer as users call it against what a torch user writes, in one process (the w8a8 package built with
`pip install .`, CUDA backends on).

Two tables over (N, K) x M x scheme, bf16 activations and outputs:
  layer   w8a8.nn.Fp8Linear (torch.ops.w8a8.fp8_linear / fp8_block_linear) and, on one shape, Fp8LinearOp.apply /
          W8A8BlockFp8LinearOp.apply, on bf16 input, against torch.compile'd activation quantization +
          torch._scaled_mm; where torch cannot run a case (blockwise with M % 4 != 0, say) the reference is bf16
          F.linear on the dequantized weight, and the row says so.
  kernel  torch.ops.w8a8.scaled_mm on FP8 input against torch._scaled_mm on the same tensors, promoted
          (use_fast_accum=False) and fast (True; not for blockwise, which has no fast accumulation).
Schemes: static per-tensor activations x per-tensor weights, dynamic per-tensor x per-tensor, dynamic per-token x
per-channel (`w8a8 quantize`'s default), and 1x128 activation groups x 128x128 weight blocks.

Method (docs/benchmarks.md): every variant is a CUDA graph of calls that rotate over weight copies filling
>= 256 MB (the 50 MB L2 keeps none of them between uses); a 3 s warm-up first (the H100's clock falls under its
power cap); then for each case the variants alternate for --rounds rounds of --reps timed replays; a variant's
time is the median over rounds of each round's median. ratio = torch / w8a8 (> 1: w8a8 faster). Rows within
--tie of 1 are ties. Writes JSON after every (N, K, scheme), so a run cut short keeps what it measured.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

import w8a8
import w8a8.nn

FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max
MIN_SCALE = 1.0 / (FP8_MAX * 512.0)
ROTATE_BYTES = 256 << 20
LLAMA = [(6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336), (10240, 8192), (8192, 8192), (57344, 8192),
         (8192, 28672)]
DEEPSEEK = [(7168, 16384), (4096, 7168), (2112, 7168)]
MS = [1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
SCHEMES = ["static", "dynamic", "token", "block"]
KERNEL_SCALES = {"dynamic": "per_tensor", "token": "rowwise", "block": "blockwise"}  # static: same GEMM as dynamic
CHOICE_SCALES = {"static": "tensor", "dynamic": "tensor", "token": "token-channel", "block": "block"}


# ---- what a torch user writes: compiled activation quantization -----------------------------------------------
def _quant_static(x, s):
    return (x.float() * (1.0 / s)).clamp(-FP8_MAX, FP8_MAX).to(FP8)


def _quant_dynamic(x):
    # Rows first, then their maximum: inductor makes a one-block kernel of a whole-tensor amax over a dynamic M.
    s = (x.abs().amax(dim=-1).amax().float() / FP8_MAX).clamp(min=MIN_SCALE)
    return (x.float() / s).clamp(-FP8_MAX, FP8_MAX).to(FP8), s


def _quant_token(x):
    s = (x.abs().amax(dim=-1, keepdim=True).float() / FP8_MAX).clamp(min=MIN_SCALE)
    return (x.float() / s).clamp(-FP8_MAX, FP8_MAX).to(FP8), s


def _quant_group(x):
    m, k = x.shape
    g = x.float().view(m, k // 128, 128)
    s = g.abs().amax(dim=-1).clamp(min=1e-10) / FP8_MAX
    q = (g / s.unsqueeze(-1)).clamp(-FP8_MAX, FP8_MAX).to(FP8).view(m, k)
    return q, s.t().contiguous().t()  # torch's 1x128 layout: (M, K/128), column-major


QUANT = {}


def quant(name, k):
    """The scheme's quantization, torch.compile'd once with dynamic shapes (M and K symbolic; M = 1 is its own
    specialization). Compiling per K with only M dynamic gives inductor better reductions at large M, at ~2 s of
    compilation per (scheme, K): the layer rows at M >= 1024 carry that part of torch's cost (docs/benchmarks.md);
    the kernel rows compare the GEMMs alone."""
    if name not in QUANT:
        fn = {"static": _quant_static, "dynamic": _quant_dynamic, "token": _quant_token, "block": _quant_group}[name]
        QUANT[name] = torch.compile(fn, dynamic=True, fullgraph=True)
    return QUANT[name]


# ---- timing --------------------------------------------------------------------------------------------------
class Timer:
    def __init__(self, reps):
        self.stream = torch.cuda.Stream()
        self.events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                       for _ in range(reps)]

    def capture(self, fn):
        """fn runs the rotated calls once; returns its graph (or the exception that stopped it)."""
        try:
            with torch.cuda.stream(self.stream):
                fn()  # compile, plans, per-stream scratch: outside the capture
                fn()
            self.stream.synchronize()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, stream=self.stream):
                fn()
            torch.cuda.synchronize()
            return g
        except Exception as e:  # noqa: BLE001 - the row records why a variant could not run
            torch.cuda.synchronize()
            return e

    def alternate(self, graphs, calls, rounds, reps):
        """{name: [round medians in us per call]} with the variants alternating round by round."""
        out = {name: [] for name in graphs}
        for g in graphs.values():
            g.replay()
        for _ in range(rounds):
            for name, g in graphs.items():
                for i in range(reps):
                    self.events[i][0].record()
                    g.replay()
                    self.events[i][1].record()
                torch.cuda.synchronize()
                t = sorted(a.elapsed_time(b) for a, b in self.events[:reps])
                out[name].append(t[len(t) // 2] * 1e3 / calls)
        return out


def warm_up(seconds):
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t0 = time.time()
    while time.time() - t0 < seconds:
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()


def fp8_weight(n, k, gen):
    # Uniform values quantized to FP8: never zeros.
    return ((torch.rand(n, k, device="cuda", generator=gen) * 2 - 1) * 400).to(FP8)


def choice_of(m, n, k, scheme, acc):
    try:
        c = w8a8.choose_scaled_mm_backend_for_shape(m, n, k, CHOICE_SCALES[scheme], "bfloat16", device="cuda",
                                                    accumulation=acc)
        return f"{c.backend} {c.kernel}".strip() + (f" [{c.knobs}]" if c.knobs else "")
    except Exception as e:  # noqa: BLE001
        return f"error: {e}"


# ---- one (N, K, scheme): every M ---------------------------------------------------------------------------------
def run_shape(n, k, scheme, ms, args, timer, rows, gen):
    copies = max(1, math.ceil(ROTATE_BYTES / (n * k)))
    weights = [fp8_weight(n, k, gen) for _ in range(copies)]
    if scheme == "block":
        nb, kb = -(-n // 128), k // 128
        wscales = [torch.rand(nb, kb, device="cuda", generator=gen) * 1e-3 + 1e-3 for _ in range(copies)]
    elif scheme == "token":
        wscales = [torch.rand(n, 1, device="cuda", generator=gen) * 1e-3 + 1e-3 for _ in range(copies)]
    else:
        wscales = [torch.rand(1, device="cuda", generator=gen) * 1e-3 + 1e-3 for _ in range(copies)]
    layers = [w8a8.nn.Fp8Linear(w, s, input_scale=None, weight_block_size=(128, 128) if scheme == "block" else None)
              for w, s in zip(weights, wscales)]
    for lin in layers:  # Fp8Linear's default for dynamic activations is per token
        lin.act_quant_static = scheme == "static"
        if scheme in ("static", "dynamic"):
            lin.act_quant_group_shape = w8a8.GroupShape.PER_TENSOR
    w_rows = [s.reshape(1, n) for s in wscales] if scheme == "token" else wscales
    op_apply = None
    if (n, k) == tuple(args.apply_shape):
        op_apply = (w8a8.W8A8BlockFp8LinearOp() if scheme == "block" else
                    w8a8.Fp8LinearOp(scheme == "static", w8a8.GroupShape.PER_TOKEN if scheme == "token"
                                     else w8a8.GroupShape.PER_TENSOR))
    bf16 = {"weights": weights}  # the F.linear reference's dequantized weights, made when torch cannot run a case
    qfn = quant(scheme, k)
    acc_cases = ["promoted", "fast"] if scheme in ("dynamic", "token") else ["promoted"]
    for m in ms:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, generator=gen)
        s_in = (x.abs().amax().float() / FP8_MAX).reshape(1)  # the static scheme's calibrated scale
        if scheme == "static":
            for lin in layers:
                lin.input_scale = s_in
        # layer variants
        fns = {"w8a8": lambda: [lin(x) for lin in layers]}
        if op_apply is not None:
            if scheme == "block":
                fns["w8a8_apply"] = lambda: [op_apply.apply(x, w, s) for w, s in zip(weights, wscales)]
            else:
                fns["w8a8_apply"] = lambda: [op_apply.apply(x, w.t(), s, input_scale=s_in if scheme == "static"
                                                             else None) for w, s in zip(weights, wscales)]

        def torch_layer():
            for w, s in zip(weights, w_rows):
                if scheme == "static":
                    q, sa = qfn(x, s_in), s_in
                else:
                    q, sa = qfn(x)
                torch._scaled_mm(q, w.t(), scale_a=sa, scale_b=s.t() if scheme == "block" else s,
                                 out_dtype=torch.bfloat16)
        fns["torch"] = torch_layer
        if args.fused_max_m and m <= args.fused_max_m:
            fns["w8a8_fused"] = fused(fns["w8a8"])
        graphs = {name: timer.capture(fn) for name, fn in fns.items()}
        torch_ref = torch_reference(graphs, timer, x, bf16)
        record(rows, "layer", scheme, "promoted", n, k, m, graphs, copies, args, timer, torch_ref,
               choice_of(m, n, k, scheme, "promoted"))
        del graphs
        # kernel variants on FP8 input (static and dynamic share the per-tensor GEMM)
        if scheme in KERNEL_SCALES:
            q, sa = qfn(x)
            sbs = [s.t() for s in wscales] if scheme == "block" else w_rows
            for acc in acc_cases:
                fast = acc == "fast"
                kf = {"w8a8": lambda: [torch.ops.w8a8.scaled_mm(q, w.t(), sa, sb, torch.bfloat16, None, "auto", acc)
                                       for w, sb in zip(weights, sbs)],
                      "torch": lambda: [torch._scaled_mm(q, w.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16,
                                                         use_fast_accum=fast) for w, sb in zip(weights, sbs)]}
                graphs = {name: timer.capture(fn) for name, fn in kf.items()}
                ref = torch_reference(graphs, timer, x, bf16)
                record(rows, "kernel", KERNEL_SCALES[scheme], acc, n, k, m, graphs, copies, args, timer, ref,
                       choice_of(m, n, k, scheme, acc))
                del graphs
        if time.time() > args.deadline:
            return False
    return True


def fused(fn):
    """fn with Fp8LinearOp's fused decode path forced on while it runs: the graph captured from it replays the fused
    kernels (the policy is read per call, at capture)."""
    def run():
        w8a8.set_fused_activation_quant("on")
        try:
            return fn()
        finally:
            w8a8.set_fused_activation_quant("auto")
    return run


def torch_reference(graphs, timer, x, bf16):
    """Where torch._scaled_mm could not run the case, bf16 F.linear on the weights takes its place in `graphs`.
    Returns what the torch row measures."""
    if not isinstance(graphs["torch"], Exception):
        return "torch._scaled_mm"
    error = str(graphs["torch"]).splitlines()[0][:160]
    if "bf16" not in bf16:
        bf16["bf16"] = [w.to(torch.bfloat16) for w in bf16["weights"]]
    graphs["torch"] = timer.capture(lambda: [F.linear(x, w) for w in bf16["bf16"]])
    return f"F.linear bf16 (torch._scaled_mm: {error})"


def record(rows, table, scheme, acc, n, k, m, graphs, copies, args, timer, torch_ref, choice):
    row = {"table": table, "scheme": scheme, "acc": acc, "M": m, "N": n, "K": k, "torch_ref": torch_ref,
           "choice": choice}
    bad = {name: g for name, g in graphs.items() if isinstance(g, Exception)}
    for name, e in bad.items():
        row[f"{name}_error"] = str(e).splitlines()[0][:300]
    good = {name: g for name, g in graphs.items() if not isinstance(g, Exception)}
    if good:
        big = max(1, m) * n * k >= 2 ** 36
        reps = max(3, args.reps // 2) if big else args.reps
        times = timer.alternate(good, copies, args.rounds, reps)
        for name, t in times.items():
            row[f"{name}_us"] = statistics.median(t)
            row[f"{name}_rounds"] = [round(v, 2) for v in t]
    if "w8a8_us" in row and "torch_us" in row:
        row["ratio"] = row["torch_us"] / row["w8a8_us"]
    if "w8a8_apply_us" in row and "torch_us" in row:
        row["ratio_apply"] = row["torch_us"] / row["w8a8_apply_us"]
    if "w8a8_fused_us" in row and "torch_us" in row:
        row["ratio_fused"] = row["torch_us"] / row["w8a8_fused_us"]
    rows.append(row)
    ratio = f"{row['ratio']:.3f}" if "ratio" in row else "n/a"
    print(f"{table:6s} {scheme:10s} {acc:8s} N={n:<6d} K={k:<6d} M={m:<5d} w8a8 {row.get('w8a8_us', float('nan')):9.1f}"
          f" torch {row.get('torch_us', float('nan')):9.1f} ratio {ratio}"
          + (f" apply {row['ratio_apply']:.3f}" if "ratio_apply" in row else "")
          + (f" fused {row['w8a8_fused_us']:.1f} ratio {row['ratio_fused']:.3f}" if "ratio_fused" in row else "")
          + ("" if torch_ref == "torch._scaled_mm" else " [ref F.linear]") + f"  <{choice}>"
          + "".join(f" {k_}={v}" for k_, v in row.items() if k_.endswith("_error")), flush=True)


def summary(rows, tie):
    lines = []
    for table in ("layer", "kernel"):
        rs = [r for r in rows if r["table"] == table and "ratio" in r]
        if not rs:
            continue
        lose = [r for r in rs if r["ratio"] < 1 - tie]
        ties = [r for r in rs if 1 - tie <= r["ratio"] < 1]
        lines.append(f"{table}: {len(rs)} rows, {len(rs) - len(lose) - len(ties)} >= 1.00x, {len(ties)} ties "
                     f"(within {tie:.0%}), {len(lose)} below; min {min(r['ratio'] for r in rs):.3f}, "
                     f"geomean {math.exp(sum(math.log(r['ratio']) for r in rs) / len(rs)):.3f}")
        for r in sorted(lose, key=lambda r: r["ratio"]):
            lines.append(f"  LOSS {r['scheme']} {r['acc']} N={r['N']} K={r['K']} M={r['M']}: {r['ratio']:.3f} "
                         f"(w8a8 {r['w8a8_us']:.1f} vs torch {r['torch_us']:.1f} us) <{r['choice']}>")
    return lines


def parse_shapes(text):
    if text == "llama":
        return LLAMA
    if text == "deepseek":
        return DEEPSEEK
    if text == "all":
        return LLAMA + DEEPSEEK
    if text == "losers-first":  # the shapes that lost in the first runs, then the rest
        first = [(2112, 7168), (4096, 14336), (10240, 8192), (8192, 28672), (7168, 16384), (8192, 8192)]
        return first + [s for s in LLAMA + DEEPSEEK if s not in first]
    return [tuple(int(v) for v in s.split(",")) for s in text.split(";")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True)
    p.add_argument("--shapes", default="all", help="all | llama | deepseek | 'N,K;N,K'")
    p.add_argument("--ms", default=",".join(map(str, MS)))
    p.add_argument("--schemes", default=",".join(SCHEMES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--tie", type=float, default=0.02)
    p.add_argument("--apply-shape", default="8192,8192", help="N,K where Fp8LinearOp.apply is timed too")
    p.add_argument("--max-seconds", type=float, default=1e9, help="stop after the (N, K, scheme) running then")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--fused-max-m", type=int, default=0,
                   help="also time the layer on the fused decode path (w8a8_fused) for M up to this (0: not)")
    args = p.parse_args()
    args.apply_shape = [int(v) for v in args.apply_shape.split(",")]
    args.deadline = time.time() + args.max_seconds
    torch.manual_seed(0)
    # Recompilations (M = 1, new K) past dynamo's default limit of 8 would silently run eager.
    torch._dynamo.config.cache_size_limit = 256
    torch._dynamo.config.accumulated_cache_size_limit = 4096
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    timer = Timer(args.reps)
    rows = []
    meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
            "w8a8_capabilities": w8a8.capabilities(), "args": {k: v for k, v in vars(args).items() if k != "deadline"}}
    print(f"# {meta['device']}, torch {meta['torch']}, cutlass_fp8_supported={w8a8.cutlass_fp8_supported()}",
          flush=True)
    warm_up(args.warmup)
    done = True
    for (n, k) in parse_shapes(args.shapes):
        for scheme in args.schemes.split(","):
            done = run_shape(n, k, scheme, [int(v) for v in args.ms.split(",")], args, timer, rows, gen)
            torch.cuda.empty_cache()
            with open(args.json, "w") as f:
                json.dump({**meta, "complete": False, "rows": rows}, f, indent=1)
            if not done:
                break
        if not done:
            print("# stopped at --max-seconds", flush=True)
            break
    with open(args.json, "w") as f:
        json.dump({**meta, "complete": done, "rows": rows}, f, indent=1)
    print("\n".join(summary(rows, args.tie)))


if __name__ == "__main__":
    main()

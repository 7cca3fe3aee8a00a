#!/usr/bin/env python3
"""torch baselines on the GPU, timed the way w8a8-bench times w8a8 (same shapes, same method).

CUDA-graph replay of a sequence of calls that rotates over weight copies filling >= 256 MB (the
50 MB L2 holds none of them between uses), a warm-up (>= 3 s for large shapes, where the H100's
clock falls under its power cap), median of many timed replays. Writes JSON rows:
{"op", "variant", "M", "N", "K", "us", "tflops", "tbps"}.
"""
import argparse
import json
import statistics
import sys

import torch

ROTATE_BYTES = 256 << 20
DECODE = [(m, n, k) for m in (1, 16, 64) for (n, k) in ((8192, 8192), (28672, 4096), (4096, 4096), (57344, 8192))]
LARGE = [(8192, 8192, 8192), (16384, 16384, 16384), (4096, 7168, 16384)]


def fp8_random(rows, cols, device="cuda"):
    # Uniform random values, quantized: never zeros.
    return (torch.rand(rows, cols, device=device) * 2 - 1).mul_(400).to(torch.float8_e4m3fn)


def time_graph(calls_per_replay, fn, warmup_s, reps):
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        fn()  # compile / heuristics outside the graph
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    # Warm-up by time.
    start.record()
    elapsed = 0.0
    while elapsed < warmup_s * 1e3:
        for _ in range(5):
            graph.replay()
        end.record()
        end.synchronize()
        elapsed = start.elapsed_time(end)
    times = []
    for _ in range(reps):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / calls_per_replay)
    return statistics.median(times)


def gemm_rows(shapes, args):
    rows = []
    for (M, N, K) in shapes:
        large = M * N * K >= 2**36
        copies = max(1, -(-ROTATE_BYTES // (N * K)))
        weights = [fp8_random(N, K) for _ in range(copies)]
        a = fp8_random(M, K)
        variants = {
            "per_tensor": (torch.tensor(0.5, device="cuda"), torch.tensor(0.25, device="cuda")),
            "rowwise": (torch.rand(M, 1, device="cuda") + 0.5, torch.rand(1, N, device="cuda") + 0.5),
        }
        for name, (sa, sb) in variants.items():
            for fast in (False, True):
                if name == "rowwise" and fast and not args.rowwise_fast:
                    continue
                def fn(sa=sa, sb=sb, fast=fast):
                    for w in weights:
                        torch._scaled_mm(a, w.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16,
                                         use_fast_accum=fast)
                us = time_graph(len(weights), fn, 3.0 if large else 0.5, args.reps)
                rows.append(row("torch._scaled_mm", f"{name}{'_fast' if fast else ''}", M, N, K, us))
                print(f"{rows[-1]}", file=sys.stderr)
        for w in weights:
            del w
        torch.cuda.empty_cache()
    return rows


def row(op, variant, M, N, K, us):
    flops = 2.0 * M * N * K
    bytes_moved = M * K + N * K + 2 * M * N  # fp8 operands, bf16 out
    return {"op": op, "variant": variant, "M": M, "N": N, "K": K, "us": us,
            "tflops": flops / us / 1e6, "tbps": bytes_moved / us / 1e6}


def quant_rows(args):
    rows = []
    fp8_max = torch.finfo(torch.float8_e4m3fn).max

    def per_token(x):
        amax = x.abs().amax(dim=-1, keepdim=True).float()
        s = (amax / fp8_max).clamp(min=1.0 / (fp8_max * 512))
        return (x.float() / s).clamp(-fp8_max, fp8_max).to(torch.float8_e4m3fn), s

    compiled = torch.compile(per_token)
    for (M, K) in [(8192, 8192), (1, 8192), (16, 8192), (16, 4096)]:
        copies = min(64, max(1, -(-ROTATE_BYTES // (M * K * 2))))  # as w8a8-bench
        xs = [torch.rand(M, K, device="cuda", dtype=torch.bfloat16) * 2 - 1 for _ in range(copies)]
        compiled(xs[0])

        def fn():
            for x in xs:
                compiled(x)
        us = time_graph(len(xs), fn, 0.5, args.reps)
        rows.append({"op": "torch.compile per_token_quant", "variant": "bf16", "M": M, "N": 0, "K": K, "us": us,
                     "tflops": 0.0, "tbps": 3 * M * K / us / 1e6})
        print(rows[-1], file=sys.stderr)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", required=True)
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--quick", action="store_true", help="decode shapes only (= --shapes decode)")
    p.add_argument("--shapes", choices=("all", "decode", "large"), default="all", help="which GEMM shapes")
    p.add_argument("--quant-only", action="store_true", help="only the quantization baseline")
    p.add_argument("--rowwise-fast", action="store_true", help="also time rowwise with fast accumulation")
    args = p.parse_args()
    torch.manual_seed(0)
    rows = quant_rows(args)
    if not args.quant_only:
        shapes = "decode" if args.quick else args.shapes
        rows += gemm_rows((DECODE if shapes != "large" else []) + (LARGE if shapes != "decode" else []), args)
    with open(args.json, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

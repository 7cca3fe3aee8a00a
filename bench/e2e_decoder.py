#!/usr/bin/env python3
"""A whole decoder on w8a8: the Llama-3.1-8B architecture from transformers (random weights, bf16) in three variants,
in one process:
  bf16       as built;
  w8a8       every Linear of the decoder layers w8a8.nn.Fp8Linear (w8a8.nn.swap_linears: per-channel weights, dynamic
             per-token activations, what `w8a8 quantize` writes by default);
  torch-fp8  the same swap to what a torch user writes: torch.compile'd per-token quantization + torch._scaled_mm
             rowwise on per-channel weights.
lm_head stays bf16 in all three (FP8 checkpoints keep it so).

Measured: prefill latency (1 x 2048 and 8 x 512 tokens, eager: GPU-bound), decode tokens/s at batch 1, 8, 32, 64 with a
static KV cache under CUDA graphs (torch.compile mode="reduce-overhead", fullgraph=True, or --graphs manual capture),
after a >= 3 s warm-up per variant, median of --rounds; and the share of decode time spent in linear layers (torch
profiler over eager decode steps: device time under aten::linear / w8a8::fp8_linear / the torch-fp8 module, over all
device time). Writes JSON (--out) and prints a table with the ratios w8a8 / bf16 and w8a8 / torch-fp8.

    python bench/e2e_decoder.py --out e2e.json              # on the GPU machine (scripts/device-check.sh e2e)
    python bench/e2e_decoder.py --tiny --device cpu --graphs none --steps 4   # smoke run of the code, anywhere
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

import w8a8
import w8a8.nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layer_vs_torch import FP8, FP8_MAX, quant  # noqa: E402  (the torch user's compiled quantization, shared)

LLAMA_31_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                   num_key_value_heads=8, head_dim=128, vocab_size=128256, rope_theta=500000.0, rms_norm_eps=1e-5,
                   max_position_embeddings=8192, tie_word_embeddings=False)
TINY = dict(LLAMA_31_8B, hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=64, vocab_size=1024)
VARIANTS = ["bf16", "w8a8", "torch-fp8"]


class TorchFp8Linear(torch.nn.Module):
    """What a torch user writes: per-channel FP8 weight, compiled per-token quantization, torch._scaled_mm."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        ws = (w.abs().amax(dim=1, keepdim=True) / FP8_MAX).clamp(min=1e-12)  # [N, 1]
        self.register_buffer("weight_t", (w / ws).clamp(-FP8_MAX, FP8_MAX).to(FP8).t())  # [K, N] column-major
        self.register_buffer("scale_b", ws.t().contiguous())  # [1, N]
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach())
        self.quant = quant("token", w.shape[1])

    def forward(self, x):
        with torch.profiler.record_function("torch_fp8_linear"):
            x2 = x.reshape(-1, x.shape[-1])
            xq, sx = self.quant(x2)
            y = torch._scaled_mm(xq, self.weight_t, scale_a=sx, scale_b=self.scale_b, bias=self.bias,
                                 out_dtype=x.dtype)
            return y.reshape(*x.shape[:-1], y.shape[-1])


def swap_torch_fp8(module):
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, TorchFp8Linear(child))
        else:
            swap_torch_fp8(child)


def build(variant, cfg, device):
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**cfg)).to(torch.bfloat16).eval()
    if variant == "w8a8":
        w8a8.nn.swap_linears(model.model, per_channel=True)
    elif variant == "torch-fp8":
        swap_torch_fp8(model.model)
    if device != "cpu":
        torch.cuda.empty_cache()
    return model


def sync(device):
    if device != "cpu":
        torch.cuda.synchronize()


def timed(fn, device):
    """Seconds of one call, by CUDA events on the GPU."""
    if device == "cpu":
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def warm(fn, seconds, device):
    t0 = time.perf_counter()
    fn()
    sync(device)
    while time.perf_counter() - t0 < seconds:
        fn()
        sync(device)


def prefill_ms(model, batch, tokens, args, cfg):
    ids = torch.randint(0, cfg["vocab_size"], (batch, tokens), device=args.device)

    def run():
        with torch.no_grad():
            model(ids, use_cache=False, logits_to_keep=1)

    warm(run, args.warmup, args.device)
    return 1e3 * statistics.median(timed(run, args.device) for _ in range(args.rounds))


def static_cache(model, batch, length, device):
    from transformers import StaticCache
    try:  # transformers 5: the cache sizes itself at the first update
        return StaticCache(config=model.config, max_cache_len=length)
    except TypeError:
        return StaticCache(config=model.config, max_batch_size=batch, max_cache_len=length, device=device,
                           dtype=torch.bfloat16)


def cache_kwargs(model, cache, pos):
    """The forward's cache arguments: transformers 5 takes `cache` and keeps the write position on the device
    (cumulative_length); older versions take past_key_values + cache_position."""
    import inspect
    if "cache" in inspect.signature(model.forward).parameters:
        return {"cache": cache}
    return {"past_key_values": cache, "cache_position": pos}


def rewind(cache, length):
    """Make the static cache hold `length` tokens again (its later entries are overwritten by the next steps)."""
    for layer in getattr(cache, "layers", []):
        c = getattr(layer, "cumulative_length", None)
        if isinstance(c, torch.Tensor):
            c.fill_(length)
        elif c is not None:
            layer.cumulative_length = length


def decode(model, batch, args, cfg):
    """(tokens/s, linear share) for greedy decode steps at `batch`, the KV cache holding a --prompt-token prompt."""
    prompt, steps = args.prompt, args.steps
    cache = static_cache(model, batch, prompt + steps + 8, args.device)
    ids = torch.randint(0, cfg["vocab_size"], (batch, prompt), device=args.device)
    with torch.no_grad():
        out = model(ids, use_cache=True, logits_to_keep=1,
                    **cache_kwargs(model, cache, torch.arange(prompt, device=args.device)))
    tok = out.logits[:, -1].argmax(-1, keepdim=True)
    pos = torch.full((1,), prompt, dtype=torch.long, device=args.device)

    def step(tok, pos):
        out = model(tok, position_ids=pos.view(1, 1).expand(tok.shape[0], 1), use_cache=True,
                    **cache_kwargs(model, cache, pos))
        return out.logits[:, -1].argmax(-1, keepdim=True)

    share = linear_share(step, tok, pos, args.device)
    rewind(cache, prompt)
    if args.graphs == "compile":
        compiled = torch.compile(step, mode="reduce-overhead", fullgraph=True)

        def one(tok_, pos_):
            return compiled(tok_, pos_).clone()
    elif args.graphs == "manual":
        static_tok, static_pos = tok.clone(), pos.clone()
        with torch.no_grad():
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    step(static_tok, static_pos)
            torch.cuda.current_stream().wait_stream(s)
            rewind(cache, prompt)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = step(static_tok, static_pos)

        def one(tok_, pos_):
            static_tok.copy_(tok_)
            static_pos.copy_(pos_)
            graph.replay()
            return static_out.clone()
    else:
        def one(tok_, pos_):
            return step(tok_, pos_)

    def run():
        rewind(cache, prompt)
        t, p = tok.clone(), pos.clone()
        with torch.no_grad():
            for _ in range(steps):
                t = one(t, p)
                p += 1

    warm(run, args.warmup, args.device)
    seconds = statistics.median(timed(run, args.device) for _ in range(args.rounds))
    return batch * steps / seconds, share


def linear_share(step, tok, pos, device):
    """Share of device time (CPU time on the CPU) under linear layers over a few eager decode steps."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device != "cpu" else [])
    with torch.no_grad():
        step(tok, pos)  # compile the torch-fp8 quantization outside the profile
        with profile(activities=activities) as prof:
            for _ in range(3):
                step(tok, pos)
        sync(device)  # (the cache advanced 4 tokens: decode() rewinds it)
    events = prof.key_averages()
    attr = "device_time_total" if device != "cpu" else "cpu_time_total"
    self_attr = "self_device_time_total" if device != "cpu" else "self_cpu_time_total"
    linear = sum(getattr(e, attr) for e in events if e.key in ("aten::linear", "w8a8::fp8_linear", "torch_fp8_linear"))
    total = sum(getattr(e, self_attr) for e in events)
    return linear / total if total else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model of the same architecture (smoke runs)")
    ap.add_argument("--graphs", choices=["compile", "manual", "none"], default="compile")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--prefill", default="1x2048,8x512")
    ap.add_argument("--prompt", type=int, default=128, help="tokens in the KV cache before decoding")
    ap.add_argument("--steps", type=int, default=64, help="decode steps per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per measurement")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    cfg = TINY if args.tiny else LLAMA_31_8B
    env = {"device": torch.cuda.get_device_name() if args.device != "cpu" else "cpu", "torch": torch.__version__,
           "w8a8": w8a8.build_info(), "date": time.strftime("%Y-%m-%d"), "commit": os.environ.get("W8A8_COMMIT", ""),
           "model": "tiny Llama" if args.tiny else "Llama-3.1-8B architecture, random bf16 weights",
           "graphs": args.graphs, "prompt": args.prompt, "steps": args.steps, "rounds": args.rounds}
    results = {"env": env, "prefill_ms": {}, "decode_tok_s": {}, "linear_share": {}}
    for variant in args.variants.split(","):
        model = build(variant, cfg, args.device)
        for shape in args.prefill.split(","):
            b, t = map(int, shape.split("x"))
            results["prefill_ms"].setdefault(shape, {})[variant] = prefill_ms(model, b, t, args, cfg)
            print(f"{variant:9s} prefill {shape:7s} {results['prefill_ms'][shape][variant]:9.2f} ms", flush=True)
        for b in map(int, args.batches.split(",")):
            tps, share = decode(model, b, args, cfg)
            results["decode_tok_s"].setdefault(str(b), {})[variant] = tps
            results["linear_share"].setdefault(str(b), {})[variant] = share
            print(f"{variant:9s} decode  b={b:<4d} {tps:9.1f} tok/s  linear share {share:.2f}", flush=True)
        del model
        if args.device != "cpu":
            torch.cuda.empty_cache()
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)
    print(report(results))


def report(results):
    lines = ["| case | bf16 | torch-fp8 | w8a8 | w8a8 / bf16 | w8a8 / torch-fp8 | linear share (bf16 / torch-fp8 / w8a8) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for shape, v in results["prefill_ms"].items():
        if {"bf16", "w8a8", "torch-fp8"} <= v.keys():
            lines.append(f"| prefill {shape} (ms) | {v['bf16']:.2f} | {v['torch-fp8']:.2f} | {v['w8a8']:.2f} | "
                         f"{v['bf16'] / v['w8a8']:.2f}x | {v['torch-fp8'] / v['w8a8']:.2f}x | |")
    for b, v in results["decode_tok_s"].items():
        if {"bf16", "w8a8", "torch-fp8"} <= v.keys():
            s = results["linear_share"][b]
            lines.append(f"| decode batch {b} (tok/s) | {v['bf16']:.1f} | {v['torch-fp8']:.1f} | {v['w8a8']:.1f} | "
                         f"{v['w8a8'] / v['bf16']:.2f}x | {v['w8a8'] / v['torch-fp8']:.2f}x | "
                         f"{s['bf16']:.2f} / {s['torch-fp8']:.2f} / {s['w8a8']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

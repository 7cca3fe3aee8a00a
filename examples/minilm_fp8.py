"""all-MiniLM-L6-v2 with w8a8.nn.Fp8Linear. Needs torch + transformers + safetensors.

Loads the FP8 checkpoint written by `w8a8 quantize` (compressed-tensors; `--scheme fp8-block --format fp8` works too)
into the model in one call, w8a8.nn.load_fp8_checkpoint, and prints the cosine similarity of the sentence
embeddings with the original model's:

    python examples/minilm_fp8.py FP8_CHECKPOINT_DIR --original ORIGINAL_MODEL_DIR

Without --original the model is built from the checkpoint alone (its config.json; every tensor comes from the
checkpoint). --device cuda runs it on the GPU backends; --save FILE writes the embeddings as JSON and --compare FILE
prints the cosine of each sentence's embedding against FILE's (the GPU against the CPU backend:
`scripts/device-check.sh layer` with FIDELITY=1 compares against docs/data/minilm-fp8-cpu-embeddings.json).

Measured 2026-12-06 on the CPU backend (torch 2.15, transformers 5.25), checkpoint from `scripts/run.sh`:
37 Linear layers made Fp8Linear; cosine with the original model per sentence 0.99742, 0.99775, 0.99772 (the test
tests/python/pkg/test_pkg_load_checkpoint.py checks > 0.99).
"""
import argparse
import json

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

import w8a8.nn

SENTENCES = ["FP8 linear layers for inference engines.", "The cat sat on the mat.",
             "Quantization keeps embeddings close to the original model."]


def embed(model, tok, sentences, device):
    enc = tok(sentences, padding=True, truncation=True, return_tensors="pt").to(device)
    with torch.no_grad():
        h = model(**enc).last_hidden_state.float()
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1).cpu()


def from_checkpoint(fp8_dir):
    """The architecture from the checkpoint's config.json, unquantized, on the CPU: load_fp8_checkpoint fills it."""
    config = AutoConfig.from_pretrained(fp8_dir)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    return AutoModel.from_config(config).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fp8_dir")
    ap.add_argument("--original", help="the unquantized model folder: also print the cosine against it")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save", help="write the embeddings (JSON)")
    ap.add_argument("--compare", help="print the cosine against these embeddings (JSON from --save)")
    args = ap.parse_args()
    tok = AutoTokenizer.from_pretrained(args.original or args.fp8_dir)
    model = AutoModel.from_pretrained(args.original).eval() if args.original else from_checkpoint(args.fp8_dir)
    report = w8a8.nn.load_fp8_checkpoint(model, args.fp8_dir)
    model.to(args.device)
    e = embed(model, tok, SENTENCES, args.device)
    print(f"{report} on {args.device}")
    if args.original:
        ref = AutoModel.from_pretrained(args.original).eval()
        cos = (embed(ref, tok, SENTENCES, "cpu") * e).sum(-1)
        print(f"cosine with the original model per sentence: {[round(c, 5) for c in cos.tolist()]}")
    if args.save:
        with open(args.save, "w") as f:
            json.dump({"device": args.device, "sentences": SENTENCES, "embeddings": e.tolist()}, f)
    if args.compare:
        with open(args.compare) as f:
            other = json.load(f)
        cos = (torch.tensor(other["embeddings"]) * e).sum(-1)
        print(f"cosine with the {other['device']} embeddings per sentence: {[round(c, 6) for c in cos.tolist()]}; "
              f"min {cos.min().item():.6f}")


if __name__ == "__main__":
    main()

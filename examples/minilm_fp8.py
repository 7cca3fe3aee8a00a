"""all-MiniLM-L6-v2 with w8a8.nn.Fp8Linear. Needs torch + transformers + safetensors.

Loads the FP8 checkpoint written by `w8a8 quantize` (compressed-tensors), swaps the model's nn.Linear layers for
Fp8Linear built from the checkpoint's tensors, and prints the cosine similarity of the sentence embeddings with
the original model's.

    python examples/minilm_fp8.py ORIGINAL_MODEL_DIR FP8_CHECKPOINT_DIR

Measured 2026-11-25 on the CPU backend (torch 2.15, transformers 5.24), checkpoint from `scripts/run.sh`:
37 Linear layers swapped; cosine per sentence 0.99742, 0.99775, 0.99772.
"""
import glob
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import w8a8.nn


def embed(model, tok, sentences):
    enc = tok(sentences, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)


def main(orig_dir, fp8_dir):
    tok = AutoTokenizer.from_pretrained(orig_dir)
    ref = AutoModel.from_pretrained(orig_dir).eval()
    fp8 = AutoModel.from_pretrained(orig_dir).eval()
    tensors = {}
    for f in glob.glob(os.path.join(fp8_dir, "*.safetensors")):
        tensors.update(load_file(f))
    swapped = 0
    for name, mod in list(fp8.named_modules()):
        for cname, child in list(mod.named_children()):
            full = f"{name}.{cname}" if name else cname
            key = next((k[: -len(".weight")] for k in tensors
                        if k.endswith(full + ".weight") and k[: -len(".weight")] + ".weight_scale" in tensors), None)
            if isinstance(child, torch.nn.Linear) and key is not None:
                setattr(mod, cname, w8a8.nn.Fp8Linear.from_checkpoint(
                    tensors[key + ".weight"], tensors[key + ".weight_scale"],
                    None if child.bias is None else child.bias.detach(), tensors.get(key + ".input_scale")))
                swapped += 1
    sentences = ["FP8 linear layers for inference engines.", "The cat sat on the mat.",
                 "Quantization keeps embeddings close to the original model."]
    cos = (embed(ref, tok, sentences) * embed(fp8, tok, sentences)).sum(-1)
    print(f"swapped {swapped} Linear layers; cosine per sentence: {[round(c, 5) for c in cos.tolist()]}")


if __name__ == "__main__":
    main(*sys.argv[1:3])

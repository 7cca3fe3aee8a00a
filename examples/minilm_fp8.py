"""all-MiniLM-L6-v2 with w8a8.nn.Fp8Linear. Needs torch + transformers + safetensors.

Loads the FP8 checkpoint written by `w8a8 quantize` (compressed-tensors; `--scheme fp8-block --format fp8` works too)
into the model in one call, w8a8.nn.load_fp8_checkpoint, and prints the cosine similarity of the sentence
embeddings with the original model's.

    python examples/minilm_fp8.py ORIGINAL_MODEL_DIR FP8_CHECKPOINT_DIR

Measured 2026-12-06 on the CPU backend (torch 2.15, transformers 5.25), checkpoint from `scripts/run.sh`:
37 Linear layers made Fp8Linear; cosine per sentence 0.99742, 0.99775, 0.99772 (the test
tests/python/pkg/test_pkg_load_checkpoint.py checks > 0.99).
"""
import sys

import torch
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
    report = w8a8.nn.load_fp8_checkpoint(fp8, fp8_dir)
    sentences = ["FP8 linear layers for inference engines.", "The cat sat on the mat.",
                 "Quantization keeps embeddings close to the original model."]
    cos = (embed(ref, tok, sentences) * embed(fp8, tok, sentences)).sum(-1)
    print(f"{report}; cosine per sentence: {[round(c, 5) for c in cos.tolist()]}")


if __name__ == "__main__":
    main(*sys.argv[1:3])

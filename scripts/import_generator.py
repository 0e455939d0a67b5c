#!/usr/bin/env python3
"""Move an MLP cGAN generator between PyTorch and synthmix.

A generator trained in PyTorch with the reference architecture (the
`Generator` of scripts/bench_pytorch.py: `label_emb = nn.Embedding(K, E)`,
`net = nn.Sequential(Linear, LeakyReLU, Linear, LeakyReLU, ..., Linear,
Tanh)`, input `cat([z, label_emb(y)], 1)`, output reshaped to C x H x W in
[-1, 1]) becomes a synthmix generator checkpoint that `synth-sample`,
`evaluate` and the pipeline use as if `gan-train` had made it:

    # in PyTorch:  safetensors.torch.save_file(gen.state_dict(), "gen_pt.safetensors")
    python3 scripts/import_generator.py to-synthmix gen_pt.safetensors gen.safetensors \
        --image 1x28x28 --dataset mnist
    synth-sample --generator gen.safetensors --per-class 1000 --out synth.safetensors

and back (`to-pytorch`), e.g. to fine-tune a synthmix generator in PyTorch:

    python3 scripts/import_generator.py to-pytorch gen.safetensors gen_pt.safetensors

Name map (linear weights are [out, in] in both, nothing is transposed):

    synthmix                  PyTorch
    label_emb.embeddings      label_emb.weight
    fcI.weight / fcI.bias     net.{2(I-1)}.weight / .bias   (I = 1 .. L)

Only numpy and safetensors are needed (no torch). The architecture (latent
width, embedding width, hidden widths, classes) is read off the shapes;
`--image` gives the output shape (default: 1x28x28 for 784 outputs, 3x32x32
for 3072).
"""

import argparse
import json
import re
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

LEAK = 0.2  # the reference's LeakyReLU slope


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        return load_file(path)
    except Exception as e:  # safetensors raises several types
        fail(f"{path}: not a readable safetensors file: {e}")


def linear_layers(weights, path, pattern):
    """Sorted [(index, weight, bias)] of the names matching `pattern`."""
    layers = {}
    for name, value in weights.items():
        m = re.fullmatch(pattern, name)
        if m:
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = value
    out = []
    for i in sorted(layers):
        parts = layers[i]
        if set(parts) != {"weight", "bias"}:
            fail(f"{path}: layer {i} has {sorted(parts)}, expected weight and bias")
        out.append((i, parts["weight"], parts["bias"]))
    if not out:
        fail(f"{path}: no linear layers found (names like {pattern})")
    return out


def to_synthmix(args):
    w = load(args.src)
    if "label_emb.weight" not in w:
        fail(f"{args.src}: no 'label_emb.weight' (is this the reference Generator's state_dict?)")
    emb = w["label_emb.weight"].astype(np.float32)
    layers = linear_layers(w, args.src, r"net\.(\d+)\.(weight|bias)")
    expected = [2 * k for k in range(len(layers))]
    if [i for i, _, _ in layers] != expected:
        fail(f"{args.src}: linear layers at net.{[i for i, _, _ in layers]}, expected net.{expected} "
             "(Linear, LeakyReLU, ..., Linear, Tanh)")
    leftovers = set(w) - {"label_emb.weight"} - {f"net.{i}.{p}" for i, _, _ in layers for p in ("weight", "bias")}
    if leftovers:
        fail(f"{args.src}: unexpected tensors {sorted(leftovers)}")
    num_classes, embed = emb.shape
    d_in = layers[0][1].shape[1]
    latent = d_in - embed
    if latent <= 0:
        fail(f"{args.src}: first layer takes {d_in} inputs, fewer than the embedding's {embed}")
    prev = d_in
    for i, wt, b in layers:
        if wt.ndim != 2 or wt.shape[1] != prev or b.shape != (wt.shape[0],):
            fail(f"{args.src}: net.{i} has weight {wt.shape} and bias {b.shape}, expected [*, {prev}] and [*]")
        prev = wt.shape[0]
    pixels = prev
    if args.image:
        c, h, wd = (int(x) for x in args.image.lower().split("x"))
    elif pixels == 784:
        c, h, wd = 1, 28, 28
    elif pixels == 3072:
        c, h, wd = 3, 32, 32
    else:
        fail(f"{args.src}: {pixels} outputs: give --image CxHxW")
    if c * h * wd != pixels:
        fail(f"--image {c}x{h}x{wd} is {c * h * wd} pixels, the generator makes {pixels}")

    tensors = {"label_emb.embeddings": np.ascontiguousarray(emb)}
    for k, (_, wt, b) in enumerate(layers):
        tensors[f"fc{k + 1}.weight"] = np.ascontiguousarray(wt.astype(np.float32))
        tensors[f"fc{k + 1}.bias"] = np.ascontiguousarray(b.astype(np.float32))
    for name, t in tensors.items():
        if not np.isfinite(t).all():
            fail(f"{args.src}: {name} holds NaN or infinite values")
    config = {
        "arch": "mlp",
        "image": {"c": c, "h": h, "w": wd},
        "num_classes": int(num_classes),
        "latent": int(latent),
        "embed": int(embed),
        "g_hidden": [int(wt.shape[0]) for _, wt, _ in layers[:-1]],
        # The discriminator is not imported; these describe the D synthmix
        # would pair with this G (gan-train --resume needs a full run state).
        "d_hidden": [1024, 512, 256],
        "leak": LEAK,
        "d_dropout": 0.3,
    }
    meta = {
        "synthmix.kind": "generator",
        "synthmix.format": "1",
        "arch": "mlp",
        "config": json.dumps(config, separators=(",", ":")),
        "dataset": args.dataset,
        "epoch": str(args.epoch),
        "imported_from": "pytorch",
    }
    save_file(tensors, args.dst, metadata=meta)
    print(f"wrote {args.dst}: synthmix mlp generator, {num_classes} classes, latent {latent}, "
          f"hidden {config['g_hidden']}, images {c}x{h}x{wd}")


def to_pytorch(args):
    with safe_open(args.src, "np") as f:
        meta = f.metadata() or {}
    if meta.get("synthmix.kind") != "generator" or meta.get("arch") != "mlp":
        fail(f"{args.src}: not a synthmix mlp generator (kind {meta.get('synthmix.kind')!r}, "
             f"arch {meta.get('arch')!r})")
    w = load(args.src)
    layers = linear_layers(w, args.src, r"fc(\d+)\.(weight|bias)")
    out = {"label_emb.weight": w["label_emb.embeddings"]}
    for k, (_, wt, b) in enumerate(layers):
        out[f"net.{2 * k}.weight"] = wt
        out[f"net.{2 * k}.bias"] = b
    save_file(out, args.dst)
    print(f"wrote {args.dst}: PyTorch state_dict of the reference Generator ({len(layers)} linear layers)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-synthmix", help="PyTorch state_dict (safetensors) -> synthmix generator checkpoint")
    a.add_argument("src")
    a.add_argument("dst")
    a.add_argument("--image", help="output shape CxHxW (default from the output width: 784 -> 1x28x28, 3072 -> 3x32x32)")
    a.add_argument("--dataset", default="unknown", help="dataset the generator was trained on (checkpoint metadata)")
    a.add_argument("--epoch", type=int, default=0, help="epochs it was trained (checkpoint metadata)")
    b = sub.add_parser("to-pytorch", help="synthmix generator checkpoint -> PyTorch state_dict (safetensors)")
    b.add_argument("src")
    b.add_argument("dst")
    args = p.parse_args(argv)
    (to_synthmix if args.cmd == "to-synthmix" else to_pytorch)(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Whole-stage PyTorch reference for `just bench --e2e` (benches/e2e.rs).

Each JOB does what the synthmix stage of the same name does, written the
way a PyTorch user would: read the same input files (MNIST's IDX gz files,
our safetensors image sets), a `DataLoader` over a `TensorDataset`, the same
model, optimiser, batch size and thread count, the checkpoint written with
`safetensors` (weights) and `torch.save` (optimiser state). The models are
imported from scripts/bench_pytorch.py, the hot-loop reference.

The caller times the whole process (interpreter start and imports
included); this script adds its own phase times so the difference can be
explained, as JSON (--json):

    {"job": ..., "images": N, "params": {...}, "threads": T,
     "phases": {"import": s, "load": s, "init": s, "loop": s, "loader": s,
                "save": s},
     "total": s}

`import` runs from this file's first line to the end of the torch import;
`load` reads and decodes the data; `init` builds (or loads) the model and
optimiser; `loader` is the part of `loop` spent waiting on the DataLoader.
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.numpy import load_file as np_load, save_file as np_save  # noqa: E402
from safetensors.torch import load_file as pt_load, save_file as pt_save  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import bench_pytorch as bp  # noqa: E402

IMPORT_S = time.perf_counter() - T0
ARCHS = {"simple-cnn": bp.SimpleCNN, "deep-cnn": bp.DeepCNN}
# The paper's learning rates, as clf-train's defaults.
PAPER_LR = {"simple-cnn": 1e-4, "deep-cnn": 1e-3}
IDX = {"train": "train", "test": "t10k"}


class Phases:
    """Wall time per named phase (perf_counter), summed over re-entries."""

    def __init__(self):
        self.s = {"import": IMPORT_S}

    def add(self, name, t0):
        self.s[name] = self.s.get(name, 0.0) + time.perf_counter() - t0


# ---------------------------------------------------------------------------
# Data: the same files synthmix reads
# ---------------------------------------------------------------------------


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load_set(name, data_dir):
    """(images uint8 [N, C, H, W], labels int64 [N]) of `DATASET:SPLIT`
    (MNIST-style IDX gz files in DATA_DIR/DATASET/) or an image-set file."""
    if ":" not in name:
        t = np_load(name)
        return t["images"], t["labels"].astype(np.int64)
    dataset, split = name.split(":", 1)
    stem = os.path.join(data_dir, dataset, IDX[split])
    images = read_idx(stem + "-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = read_idx(stem + "-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return images, labels


def loader(name, data_dir, batch, shuffle, seed):
    images, labels = load_set(name, data_dir)
    ds = TensorDataset(torch.from_numpy(images.copy()), torch.from_numpy(labels))
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=gen), len(ds)


def timed_batches(dl, ph):
    """Yields the DataLoader's batches, charging the wait to `loader`."""
    it = iter(dl)
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            return
        finally:
            ph.add("loader", t0)
        yield batch


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------


def clf_train(a, ph):
    t0 = time.perf_counter()
    dl, n = loader(a.train, a.data_dir, a.batch_size, True, a.seed)
    ph.add("load", t0)
    t0 = time.perf_counter()
    model = ARCHS[a.arch]()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr or PAPER_LR[a.arch])
    ph.add("init", t0)
    t0 = time.perf_counter()
    model.train()
    for epoch in range(a.epochs):
        loss_sum, correct = 0.0, 0
        for x, y in timed_batches(dl, ph):
            opt.zero_grad(set_to_none=True)
            logits = model(x.float() / 255.0)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        print(f"epoch {epoch + 1}: loss {loss_sum / n:.4f} acc {correct / n:.4f}")
    ph.add("loop", t0)
    t0 = time.perf_counter()
    pt_save(model.state_dict(), a.out)
    ph.add("save", t0)
    return n * a.epochs, {"classifier": n_params(model)}


def gan_epoch(g, d, opts, dl, ph):
    """One epoch of the cGAN step bench_pytorch times: D on real + fake, then
    G with the non-saturating loss on the same fakes."""
    opt_g, opt_d = opts
    for real, y in timed_batches(dl, ph):
        b = len(y)
        real = real.float() / 127.5 - 1.0
        ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
        fake_y = torch.randint(0, bp.NUM_CLASSES, (b,))
        fake = g(torch.randn(b, bp.LATENT_DIM), fake_y)
        opt_d.zero_grad(set_to_none=True)
        d_loss = F.binary_cross_entropy_with_logits(d(real, y), ones)
        d_loss = d_loss + F.binary_cross_entropy_with_logits(d(fake.detach(), fake_y), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(d(fake, fake_y), ones).backward()
        opt_g.step()


def gan_train(a, ph):
    t0 = time.perf_counter()
    dl, n = loader(a.train, a.data_dir, a.batch_size, True, a.seed)
    ph.add("load", t0)
    t0 = time.perf_counter()
    g, d = bp.Generator(), bp.Discriminator()
    opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (g, d)]
    fixed_z = torch.randn(10 * bp.NUM_CLASSES, bp.LATENT_DIM)
    fixed_y = torch.arange(10 * bp.NUM_CLASSES) // 10
    ph.add("init", t0)
    stem = os.path.splitext(a.out)[0]
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        g.train(), d.train()
        gan_epoch(g, d, opts, dl, ph)
        ph.add("loop", t0)
        t0 = time.perf_counter()
        g.eval()
        with torch.inference_mode():  # the fixed samples a sample grid shows
            grid = g(fixed_z, fixed_y)
        pt_save(g.state_dict(), a.out)
        pt_save(d.state_dict(), stem + ".disc.safetensors")
        torch.save({"g": opts[0].state_dict(), "d": opts[1].state_dict(), "epoch": epoch + 1,
                    "grid": grid}, stem + ".optim.pt")
        ph.add("save", t0)
    return n * a.epochs, {"generator": n_params(g), "discriminator": n_params(d)}


def synth_sample(a, ph):
    t0 = time.perf_counter()
    g = bp.Generator()
    g.load_state_dict(pt_load(a.generator))
    g.eval()
    ph.add("init", t0)
    t0 = time.perf_counter()
    labels = torch.arange(bp.NUM_CLASSES).repeat_interleave(a.per_class)
    out = []
    with torch.inference_mode():
        for y in labels.split(a.batch_size):
            x = g(torch.randn(len(y), bp.LATENT_DIM), y)
            out.append(((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8))
    ph.add("loop", t0)
    t0 = time.perf_counter()
    images = torch.cat(out).numpy()
    np_save({"images": images, "labels": labels.to(torch.uint8).numpy()}, a.out,
            metadata={"num_classes": str(bp.NUM_CLASSES), "source": "synthetic"})
    ph.add("save", t0)
    return len(labels), {"generator": n_params(g)}


def evaluate(a, ph):
    t0 = time.perf_counter()
    model = ARCHS[a.arch]()
    model.load_state_dict(pt_load(a.classifier))
    model.eval()
    ph.add("init", t0)
    t0 = time.perf_counter()
    dl, n = loader(a.test, a.data_dir, a.batch_size, False, 0)
    ph.add("load", t0)
    t0 = time.perf_counter()
    confusion = torch.zeros(bp.NUM_CLASSES, bp.NUM_CLASSES, dtype=torch.long)
    with torch.inference_mode():
        for x, y in timed_batches(dl, ph):
            pred = model(x.float() / 255.0).argmax(1)
            confusion.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    ph.add("loop", t0)
    t0 = time.perf_counter()
    per_class = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
    acc = confusion.diag().sum().item() / n
    print(f"accuracy {acc:.4f}")
    with open(a.out, "w") as f:
        json.dump({"accuracy": acc, "per_class": per_class, "confusion": confusion.tolist()}, f)
    ph.add("save", t0)
    return n, {"classifier": n_params(model)}


def params(a, ph):
    """Parameter counts of every model, for the caller's check against ours."""
    counts = {k: n_params(c()) for k, c in ARCHS.items()}
    counts.update(generator=n_params(bp.Generator()), discriminator=n_params(bp.Discriminator()),
                  unet=n_params(bp.Unet()))
    return 0, counts


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def default_data_dir():
    """synthmix's rule (data::resolve_data_dir): env SYNTHMIX_DATA, else ./data
    if it holds anything, else ../shared/data if that does, else ./data."""
    env = os.environ.get("SYNTHMIX_DATA")
    if env:
        return env
    holds = lambda d: os.path.isdir(d) and any(os.scandir(d))
    return "../shared/data" if not holds("data") and holds("../shared/data") else "data"


def add_data(p):
    p.add_argument("--data-dir", default=default_data_dir(),
                   help="folder holding mnist/ (IDX gz files), as synthmix's --data-dir "
                        "(default: env SYNTHMIX_DATA, else ./data if it holds anything, "
                        "else ../shared/data if that does, else ./data)")


def add_out(p, what):
    p.add_argument("--out", required=True, help=f"output file: {what}")


def job_parsers(sub):
    c = sub.add_parser("clf-train", help="train a classifier (as clf-train)")
    c.add_argument("--train", required=True, help="DATASET:SPLIT (IDX gz) or an image-set file")
    c.add_argument("--arch", choices=sorted(ARCHS), default="simple-cnn", help="classifier architecture")
    c.add_argument("--epochs", type=int, default=1, help="epochs over the training set")
    c.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default: the paper's, 1e-4 simple-cnn, 1e-3 deep-cnn)")
    c.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    add_out(c, "the weights (safetensors)")
    add_data(c)
    g = sub.add_parser("gan-train", help="train the MLP cGAN (as gan-train, no FID)")
    g.add_argument("--train", required=True, help="DATASET:SPLIT (IDX gz) or an image-set file")
    g.add_argument("--epochs", type=int, default=1, help="epochs over the training set")
    g.add_argument("--batch-size", type=int, default=100, help="real images per step")
    add_out(g, "the generator's weights (safetensors); D and the optimiser state go beside it")
    add_data(g)
    s = sub.add_parser("synth-sample", help="sample images per class from a generator (as synth-sample)")
    s.add_argument("--generator", required=True, help="generator weights written by this script's gan-train")
    s.add_argument("--per-class", type=int, required=True, help="images per class")
    s.add_argument("--batch-size", type=int, default=500, help="images per generator batch")
    add_out(s, "the image set (safetensors: images uint8 [N,1,28,28], labels uint8 [N])")
    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy, confusion (as evaluate)")
    e.add_argument("--classifier", required=True, help="classifier weights written by this script's clf-train")
    e.add_argument("--arch", choices=sorted(ARCHS), default="simple-cnn", help="its architecture")
    e.add_argument("--test", required=True, help="DATASET:SPLIT (IDX gz) or an image-set file")
    e.add_argument("--batch-size", type=int, default=1000, help="images per inference batch")
    add_out(e, "the metrics (JSON)")
    add_data(e)
    sub.add_parser("params", help="print the parameter count of every model")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (intra-op threads)")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed, and the shuffle's seed")
    p.add_argument("--json", metavar="PATH", help="write the job's phase times and parameter counts here")
    sub = p.add_subparsers(dest="job", required=True, metavar="JOB")
    job_parsers(sub)
    return p.parse_args(argv)


JOBS = {"clf-train": clf_train, "gan-train": gan_train, "synth-sample": synth_sample,
        "evaluate": evaluate, "params": params}


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ph = Phases()
    images, counts = JOBS[a.job](a, ph)
    doc = {"job": a.job, "images": images, "params": counts, "threads": torch.get_num_threads(),
           "torch_version": torch.__version__, "phases": ph.s, "total": time.perf_counter() - T0}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f)
    else:
        print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())

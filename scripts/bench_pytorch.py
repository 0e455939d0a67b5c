#!/usr/bin/env python3
"""PyTorch CPU reference benchmark for synthmix.

Measures images/s for the same model architectures that synthmix implements
(simple CNN, deep CNN, MLP conditional GAN, DCGAN), on synthetic random inputs of the
right shapes, so that the Rust benchmark can report "synthmix / PyTorch" ratios
measured in the same run on the same CPU with the same thread count.

Each workload is timed as the median of several fixed-length windows that
follow a warm-up. Results go to stdout as a table and, with --json, to a JSON
file:

    {"torch_version": ..., "threads": ..., "cpu": ...,
     "results": {workload: {"images_per_s": ..., "flops_per_image": ...,
                            "gflops": ..., "batch": ...}},
     "sgemm": {n: {"gflops": ..., "window_gflops": [...]}},   # with --sgemm
     "peak_rss_kib": ...}

With --sgemm 1024,2048 it also times torch.mm on n x n fp32 operands (the
peak reference `just bench` prints beside its own FMA-loop ceiling and
sgemm), before the workloads.

Install the dependencies with scripts/requirements-bench.txt (CPU-only torch
wheel recommended; see the comment in that file).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - exercised only without torch
    sys.stderr.write(
        "bench_pytorch.py: PyTorch is not installed; "
        "pip install -r scripts/requirements-bench.txt\n"
    )
    sys.exit(2)

# The U-Net is the Python loader's (python/synthmix_io.py), this checkout's.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import synthmix_io  # noqa: E402


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

NUM_CLASSES = 10
LATENT_DIM = 100
IMG_SHAPE_MNIST = (1, 28, 28)
IMG_SHAPE_CIFAR = (3, 32, 32)


class SimpleCNN(nn.Module):
    """conv3x3 1->32, ReLU, maxpool2, conv3x3 32->64, ReLU, maxpool2,
    flatten 1600, Linear 1600->128, ReLU, Dropout 0.5, Linear 128->10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(64 * 5 * 5, 128)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, NUM_CLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 26x26 -> 13x13
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 11x11 -> 5x5
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return self.fc2(x)


class DeepCNN(nn.Module):
    """Three blocks [conv3x3 pad1, ReLU, conv3x3 pad1, ReLU, maxpool2,
    Dropout 0.2] with 32/64/128 channels, flatten 2048, Linear 2048->128,
    ReLU, Dropout 0.5, Linear 128->10."""

    def __init__(self):
        super().__init__()
        layers = []
        cin = 3
        for cout in (32, 64, 128):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Dropout(0.2),
            ]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 4 * 4, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, NUM_CLASSES),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class Generator(nn.Module):
    """concat(noise 100, Embedding(10,10)) -> 256 -> 512 -> 1024 -> 784, Tanh."""

    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(NUM_CLASSES, NUM_CLASSES)
        self.net = nn.Sequential(
            nn.Linear(LATENT_DIM + NUM_CLASSES, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 28 * 28),
            nn.Tanh(),
        )

    def forward(self, z, labels):
        x = torch.cat([z, self.label_emb(labels)], dim=1)
        return self.net(x).view(-1, *IMG_SHAPE_MNIST)


class Discriminator(nn.Module):
    """concat(image 784, Embedding(10,10)) -> 1024 -> 512 -> 256 -> 1 logit,
    LeakyReLU 0.2 + Dropout 0.3 after each hidden layer."""

    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(NUM_CLASSES, NUM_CLASSES)
        self.net = nn.Sequential(
            nn.Linear(28 * 28 + NUM_CLASSES, 1024),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Linear(1024, 512),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Linear(256, 1),
        )

    def forward(self, img, labels):
        x = torch.cat([img.view(img.size(0), -1), self.label_emb(labels)], dim=1)
        return self.net(x)


def pixel_norm(x):
    """ProGAN pixel norm over channels (as synthmix's `model::gan::pixel_norm`)."""
    return x / torch.sqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class DcGenerator(nn.Module):
    """synthmix's `dcgan` generator for CIFAR-10: concat(noise 100,
    Embedding(10,10)) -> linear to 128x8x8, LeakyReLU 0.2, pixel norm;
    [nearest x2 -> conv3x3 -> ReLU -> pixel norm] to 64 then 32 channels;
    conv3x3 to 3 -> tanh."""

    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(NUM_CLASSES, NUM_CLASSES)
        self.fc1 = nn.Linear(LATENT_DIM + NUM_CLASSES, 128 * 8 * 8)
        self.conv1 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 3, 3, padding=1)

    def forward(self, z, labels):
        x = self.fc1(torch.cat([z, self.label_emb(labels)], dim=1)).view(-1, 128, 8, 8)
        x = pixel_norm(F.leaky_relu(x, 0.2))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = pixel_norm(F.relu(self.conv1(x)))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = pixel_norm(F.relu(self.conv2(x)))
        return torch.tanh(self.conv3(x))


class DcDiscriminator(nn.Module):
    """synthmix's `dcgan` projection discriminator: conv3x3 3->32, LeakyReLU,
    avg-pool 2; 32->64, LeakyReLU, avg-pool 2; 64->128, LeakyReLU; phi = mean
    over space; logit = fc1(phi) + Embedding(10,128)(y) . phi."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc1 = nn.Linear(128, 1)
        self.label_emb = nn.Embedding(NUM_CLASSES, 128)

    def forward(self, img, labels):
        h = F.avg_pool2d(F.leaky_relu(self.conv1(img), 0.2), 2)
        h = F.avg_pool2d(F.leaky_relu(self.conv2(h), 0.2), 2)
        h = F.leaky_relu(self.conv3(h), 0.2)
        phi = h.mean(dim=(2, 3))
        return self.fc1(phi) + (phi * self.label_emb(labels)).sum(dim=1, keepdim=True)


def Unet():
    """synthmix's class-conditional U-Net (model/unet.rs) at its defaults for
    28x28 grey images: base 32, level widths x(1,2,2), one residual block per
    level and side, attention at the lowest level. The module is the one
    python/synthmix_io.py loads checkpoints into (one definition: its outputs
    are tested equal to ours in tests/python_io.rs)."""
    return synthmix_io.Unet({
        "image": {"c": 1, "h": 28, "w": 28}, "num_classes": NUM_CLASSES, "base": 32, "mults": [1, 2, 2],
        "res_blocks": 1, "groups": 8, "attention": True,
    })


# ---------------------------------------------------------------------------
# FLOP counting
# ---------------------------------------------------------------------------


def forward_flops_per_image(model, *example_inputs):
    """FLOPs of one forward pass for ONE image, counting only Conv2d and
    Linear layers as 2 x multiply-adds (biases, activations, pooling,
    dropout, embeddings and concatenation are ignored).

    The example inputs must have batch size 1."""
    total = [0]

    def conv_hook(mod, inp, out):
        kh, kw = mod.kernel_size
        macs = out.numel() * (mod.in_channels // mod.groups) * kh * kw
        total[0] += 2 * macs

    def linear_hook(mod, inp, out):
        total[0] += 2 * out.numel() * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        model(*example_inputs)
    model.train(was_training)
    for h in handles:
        h.remove()
    return total[0]


# Training FLOPs use the usual approximation: backward ~= 2 x forward, so one
# training step costs 3 x the forward FLOPs (optimizer update ignored).
TRAIN_FLOPS_FACTOR = 3


# ---------------------------------------------------------------------------
# Workloads: each builder returns (step_fn, images_per_step, flops_per_image)
# ---------------------------------------------------------------------------


def build_cnn_train(model_cls, img_shape, batch, lr):
    model = model_cls()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.randn(batch, *img_shape)
    y = torch.randint(0, NUM_CLASSES, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    flops = TRAIN_FLOPS_FACTOR * forward_flops_per_image(
        model, torch.zeros(1, *img_shape)
    )
    return step, batch, flops


def build_cnn_infer(model_cls, img_shape, batch):
    model = model_cls()
    model.eval()
    x = torch.randn(batch, *img_shape)

    def step():
        with torch.inference_mode():
            model(x)

    flops = forward_flops_per_image(model, torch.zeros(1, *img_shape))
    return step, batch, flops


def build_cgan_train(batch, gen_cls=None, disc_cls=None, img_shape=IMG_SHAPE_MNIST):
    gen = (gen_cls or Generator)()
    disc = (disc_cls or Discriminator)()
    gen.train()
    disc.train()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    # Synthetic "real" images in [-1, 1] (as MNIST scaled by x*2-1) and labels.
    real = torch.rand(batch, *img_shape) * 2.0 - 1.0
    real_labels = torch.randint(0, NUM_CLASSES, (batch,))
    ones = torch.ones(batch, 1)
    zeros = torch.zeros(batch, 1)

    def step():
        z = torch.randn(batch, LATENT_DIM)
        gen_labels = torch.randint(0, NUM_CLASSES, (batch,))
        fake = gen(z, gen_labels)

        # Discriminator step: real batch + fake batch (fake detached).
        opt_d.zero_grad(set_to_none=True)
        d_loss = bce(disc(real, real_labels), ones) + bce(
            disc(fake.detach(), gen_labels), zeros
        )
        d_loss.backward()
        opt_d.step()

        # Generator step: non-saturating loss -log D(G(z)), reusing `fake`.
        opt_g.zero_grad(set_to_none=True)
        g_loss = bce(disc(fake, gen_labels), ones)
        g_loss.backward()
        opt_g.step()

    g_f = forward_flops_per_image(
        gen, torch.zeros(1, LATENT_DIM), torch.zeros(1, dtype=torch.long)
    )
    d_f = forward_flops_per_image(
        disc, torch.zeros(1, *img_shape), torch.zeros(1, dtype=torch.long)
    )
    # Per step and per (real) image: G runs forward once (+ backward in the G
    # step); D runs forward three times (real, fake, fake-for-G) each with a
    # backward. With the 3 x forward approximation: 3*G + 3*(3*D).
    flops = TRAIN_FLOPS_FACTOR * (g_f + 3 * d_f)
    return step, batch, flops


def build_gan_sample(batch):
    gen = Generator()
    gen.eval()
    labels = torch.arange(batch) % NUM_CLASSES

    def step():
        with torch.inference_mode():
            z = torch.randn(batch, LATENT_DIM)
            gen(z, labels)

    flops = forward_flops_per_image(
        gen, torch.zeros(1, LATENT_DIM), torch.zeros(1, dtype=torch.long)
    )
    return step, batch, flops


def unet_flops(model):
    return forward_flops_per_image(
        model, torch.zeros(1, *IMG_SHAPE_MNIST), torch.zeros(1, dtype=torch.long),
        torch.zeros(1, dtype=torch.long))


def build_unet_train(batch):
    """One dpm-train step: t ~ U{0..999}, labels dropped to the null class
    with p 0.1, x_t from the cosine schedule, MSE on eps, Adam, then the EMA
    update of a second copy (decay 0.999)."""
    model, ema = Unet(), Unet()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x0 = torch.rand(batch, *IMG_SHAPE_MNIST) * 2.0 - 1.0
    labels = torch.randint(0, NUM_CLASSES, (batch,))
    s = torch.arange(1001, dtype=torch.float64) / 1000
    f = torch.cos((s + 0.008) / 1.008 * torch.pi / 2) ** 2
    alpha_bar = (f[1:] / f[0]).clamp(max=0.9999).float()

    def step():
        t = torch.randint(0, 1000, (batch,))
        y = torch.where(torch.rand(batch) < 0.1, NUM_CLASSES, labels)
        eps = torch.randn_like(x0)
        ab = alpha_bar[t][:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(xt, t, y), eps)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pe, pl in zip(ema.parameters(), model.parameters()):
                pe.mul_(0.999).add_(pl, alpha=0.001)

    return step, batch, TRAIN_FLOPS_FACTOR * unet_flops(model)


def build_ddim_sample(batch):
    """One guided DDIM step per image: the U-Net on the conditional and the
    null-class copy of the batch at once, eps = (1+w) eps(y) - w eps(null),
    then the deterministic update (images/s = images advanced one step)."""
    model = Unet()
    model.eval()
    x = torch.randn(batch, *IMG_SHAPE_MNIST)
    labels = torch.arange(batch) % NUM_CLASSES
    y2 = torch.cat([labels, torch.full((batch,), NUM_CLASSES)])
    t2 = torch.full((2 * batch,), 500)
    ab, ab_prev, w = 0.5, 0.52, 1.0

    def step():
        with torch.inference_mode():
            e = model(torch.cat([x, x]), t2, y2)
            eps = (1 + w) * e[:batch] - w * e[batch:]
            x0 = (x - (1 - ab) ** 0.5 * eps) / ab**0.5
            x0.clamp(-1, 1) * ab_prev**0.5 + (1 - ab_prev) ** 0.5 * eps

    return step, batch, 2 * unet_flops(model)


def workload_table(args):
    """Name -> zero-arg builder. Builders are called lazily so that only the
    selected workloads allocate memory."""
    return {
        "simple-cnn-train": lambda: build_cnn_train(
            SimpleCNN, IMG_SHAPE_MNIST, args.train_batch, 1e-4
        ),
        "deep-cnn-train": lambda: build_cnn_train(
            DeepCNN, IMG_SHAPE_CIFAR, args.train_batch, 1e-3
        ),
        "simple-cnn-infer": lambda: build_cnn_infer(
            SimpleCNN, IMG_SHAPE_MNIST, args.infer_batch
        ),
        "deep-cnn-infer": lambda: build_cnn_infer(
            DeepCNN, IMG_SHAPE_CIFAR, args.infer_batch
        ),
        "cgan-train": lambda: build_cgan_train(args.gan_batch),
        "dcgan-train": lambda: build_cgan_train(
            args.gan_batch, DcGenerator, DcDiscriminator, IMG_SHAPE_CIFAR
        ),
        "gan-sample": lambda: build_gan_sample(args.sample_batch),
        "unet-train": lambda: build_unet_train(args.train_batch),
        "ddim-sample": lambda: build_ddim_sample(args.dpm_sample_batch),
    }


ALL_WORKLOADS = [
    "simple-cnn-train",
    "deep-cnn-train",
    "simple-cnn-infer",
    "deep-cnn-infer",
    "cgan-train",
    "dcgan-train",
    "gan-sample",
    "unet-train",
    "ddim-sample",
]


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def run_for(step, seconds, min_steps):
    """Run `step` until `seconds` have elapsed and at least `min_steps` steps
    ran; return (steps, elapsed_seconds)."""
    n = 0
    t0 = time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if n >= min_steps and elapsed >= seconds:
            return n, elapsed


def measure(step, images_per_step, seconds, windows, warmup):
    run_for(step, warmup, min_steps=2)
    rates = []
    for _ in range(windows):
        n, elapsed = run_for(step, seconds, min_steps=1)
        rates.append(n * images_per_step / elapsed)
    return statistics.median(rates), rates


def measure_sgemm(n, seconds, windows):
    """GFLOP/s of torch.mm on n x n fp32 operands (2 n^3 FLOPs a product,
    a fresh result each time, as synthmix's side allocates one): the median
    of `windows` windows of at least `seconds`, after one warm-up product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    rates = []
    for _ in range(windows):
        count, elapsed = run_for(lambda: torch.mm(a, b), seconds, min_steps=1)
        rates.append(2.0 * n**3 * count / elapsed / 1e9)
    return statistics.median(rates), rates


def cpu_model_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average():
    """1-minute load average, or None where unavailable. Other processes
    competing for the cores make the numbers noisy; it is recorded so that
    a caller can tell."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def peak_rss_kib():
    # This process's own high-water mark. Linux's ru_maxrss keeps the
    # parent's across fork + exec, so run from `just bench` it read the
    # Rust side's peak whenever that was the larger.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB; macOS reports bytes.
    if sys.platform == "darwin":
        rss //= 1024
    return int(rss)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=(
            "PyTorch CPU reference benchmark for synthmix: images/s, "
            "FLOPs/image, GFLOP/s for each workload (median over timed "
            "windows after a warm-up, synthetic random inputs) and the "
            "process's peak RSS."
        ),
        epilog="Workloads: " + ", ".join(ALL_WORKLOADS),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help="comma-separated list of workloads to run, in this order",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="intra-op thread count passed to torch.set_num_threads",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=4.0,
        help="length of each timed window in seconds (a window always "
        "finishes its current step, so it may run slightly longer)",
    )
    p.add_argument(
        "--windows",
        type=int,
        default=3,
        help="number of timed windows per workload; the median images/s is "
        "reported",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="warm-up seconds per workload before the timed windows "
        "(at least 2 steps are always run)",
    )
    p.add_argument(
        "--train-batch",
        type=int,
        default=64,
        help="batch size of simple-cnn-train, deep-cnn-train and unet-train",
    )
    p.add_argument(
        "--infer-batch",
        type=int,
        default=1000,
        help="batch size of simple-cnn-infer and deep-cnn-infer",
    )
    p.add_argument(
        "--gan-batch",
        type=int,
        default=100,
        help="batch size of cgan-train (real images per step)",
    )
    p.add_argument(
        "--sample-batch",
        type=int,
        default=1000,
        help="batch size of gan-sample (generator forward only)",
    )
    p.add_argument(
        "--dpm-sample-batch",
        type=int,
        default=250,
        help="images per guided DDIM step of ddim-sample (the U-Net runs on "
        "twice as many: conditional and null class), as dpm-train draws them",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed passed to torch.manual_seed"
    )
    p.add_argument(
        "--sgemm",
        metavar="SIZES",
        default="",
        help="comma-separated n: also time torch.mm on n x n fp32 operands "
        "(3 windows of 1 s each, before the workloads; the peak reference)",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="also write the results as JSON to PATH ('-' for stdout)",
    )
    args = p.parse_args(argv)

    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in ALL_WORKLOADS]
    if unknown or not names:
        p.error(
            "unknown or empty --workloads %s; choose from: %s"
            % (",".join(unknown) or "''", ",".join(ALL_WORKLOADS))
        )
    args.workload_list = names
    try:
        args.sgemm_sizes = [int(n) for n in args.sgemm.split(",") if n.strip()]
    except ValueError:
        p.error("--sgemm %r: expected comma-separated sizes, e.g. 1024,2048" % args.sgemm)
    if any(n < 1 or n > 16384 for n in args.sgemm_sizes):
        p.error("--sgemm sizes must be in 1..16384, got %s" % args.sgemm)
    for flag in ("threads", "windows", "train_batch", "infer_batch",
                 "gan_batch", "sample_batch", "dpm_sample_batch"):
        if getattr(args, flag) < 1:
            p.error("--%s must be >= 1" % flag.replace("_", "-"))
    if args.seconds <= 0 or args.warmup < 0:
        p.error("--seconds must be > 0 and --warmup >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    builders = workload_table(args)
    cpu = cpu_model_name()
    print(
        "torch %s | threads %d | cpu %s | %gs x %d windows (+%gs warm-up)"
        % (torch.__version__, torch.get_num_threads(), cpu, args.seconds,
           args.windows, args.warmup),
        flush=True,
    )
    load_start = load_average()
    if load_start is not None and load_start > 1.0:
        print("note: 1-min load average %.2f at start; other processes may "
              "skew the timings" % load_start, flush=True)

    sgemm = {}
    for n in args.sgemm_sizes:
        g, rates = measure_sgemm(n, 1.0, 3)
        sgemm[str(n)] = {"gflops": g, "window_gflops": rates}
        print("sgemm %dx%dx%d (torch.mm): %.1f GFLOP/s" % (n, n, n, g), flush=True)

    header = "%-18s %6s %12s %14s %10s" % (
        "workload", "batch", "images/s", "MFLOP/image", "GFLOP/s")
    print(header)
    print("-" * len(header), flush=True)

    t_start = time.perf_counter()
    results = {}
    for name in args.workload_list:
        torch.manual_seed(args.seed)
        step, batch, flops = builders[name]()
        ips, rates = measure(step, batch, args.seconds, args.windows,
                             args.warmup)
        gflops = ips * flops / 1e9
        results[name] = {
            "images_per_s": ips,
            "flops_per_image": flops,
            "gflops": gflops,
            "batch": batch,
            "window_images_per_s": rates,
        }
        print("%-18s %6d %12.1f %14.3f %10.2f"
              % (name, batch, ips, flops / 1e6, gflops), flush=True)
        del step

    rss = peak_rss_kib()
    total = time.perf_counter() - t_start
    print("-" * len(header))
    print("peak RSS: %d KiB (%.1f MiB) | benchmark time %.1fs"
          % (rss, rss / 1024.0, total), flush=True)

    if args.json:
        doc = {
            "torch_version": torch.__version__,
            "threads": args.threads,
            "cpu": cpu,
            "seconds": args.seconds,
            "windows": args.windows,
            "results": results,
            "sgemm": sgemm,
            "peak_rss_kib": rss,
            "loadavg_1m_start": load_start,
            "loadavg_1m_end": load_average(),
            "total_seconds": total,
        }
        text = json.dumps(doc, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            d = os.path.dirname(os.path.abspath(args.json))
            os.makedirs(d, exist_ok=True)
            with open(args.json, "w") as f:
                f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

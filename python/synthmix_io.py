"""synthmix artifacts in Python: image sets as numpy arrays, classifiers and
generators as PyTorch modules holding the checkpoint's weights.

Importing this module and reading image sets needs only numpy and
safetensors; torch is imported by the functions and classes that make
tensors or modules (`preprocess`, `to_pixels`, `load_classifier`,
`load_generator`, `load_unet`, `ImageSetDataset`, `Classifier`,
`Generator`, `Unet`).

Layouts (as the Rust side writes and reads them, docs/python.md):
- an image set's `images` are uint8 `[N, C, H, W]`, raw 0-255 pixels;
  `labels` are returned as int64 `[N]`;
- a classifier takes float32 `[N, C, H, W]` in [0, 1] at its input shape
  (`preprocess`) and returns logits `[N, num_classes]`;
- a generator takes noise `z` float32 `[N, latent]` (N(0, 1) in synth-sample)
  and labels int64 `[N]`, returns float32 `[N, C, H, W]` in [-1, 1];
  synth-sample stores `to_pixels` of that: round((x + 1) * 127.5), clamped;
- a diffusion generator (dpm-train's U-Net) takes x_t float32 [N, C, H, W],
  timesteps int64 [N] in 0..999 and labels int64 [N] (num_classes = the
  null class of classifier-free guidance) and returns the predicted noise
  eps float32 [N, C, H, W].

Every error about a file is a ValueError whose message starts with its path.
"""

import functools
import json
from pathlib import Path

import numpy as np
from safetensors import safe_open

__all__ = [
    "load_image_set",
    "load_synthetic_flags",
    "fit_to_shape",
    "preprocess",
    "to_pixels",
    "load_classifier",
    "load_generator",
    "load_unet",
    "read_checkpoint",
    "ImageSetDataset",
    "Classifier",
    "Generator",
    "Unet",
]

KIND = "synthmix.kind"
FORMAT = "synthmix.format"
FORMAT_VERSION = "1"
# Metadata values the Rust side stores as JSON (the rest are plain text).
JSON_KEYS = ("config", "class_names")
# data::batch_pixels multiplies by the f32 reciprocal (not a division).
INV_255 = np.float32(1.0) / np.float32(255.0)
# ops::norm::PIXEL_NORM_EPS.
PIXEL_NORM_EPS = 1e-8


def _bad(path, problem):
    return ValueError(f"{path}: {problem}")


def _read(path, kinds):
    """(tensors by name as numpy arrays, metadata dict) of a synthmix
    artifact whose kind is one of `kinds`."""
    path = Path(path)
    if not path.is_file():
        raise _bad(path, "no such file")
    try:
        with safe_open(str(path), framework="np") as f:
            flat = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as e:  # safetensors raises its own error types
        raise _bad(path, f"not a safetensors file ({e})") from None
    kind = flat.get(KIND)
    if kind not in kinds:
        raise _bad(path, f"is a {kind or 'non-synthmix'} artifact, expected {' or '.join(kinds)}")
    if flat.get(FORMAT) != FORMAT_VERSION:
        raise _bad(path, f"format {flat.get(FORMAT)!r} is not {FORMAT_VERSION!r}")
    return tensors, _parse_meta(path, flat)


def _parse_meta(path, flat):
    """The metadata with the JSON-valued entries parsed."""
    meta = dict(flat)
    for key in JSON_KEYS:
        if key in meta:
            try:
                meta[key] = json.loads(meta[key])
            except ValueError:
                raise _bad(path, f"metadata key '{key}' is not JSON") from None
    return meta


def _tensor(path, tensors, name, dtype, rank):
    t = tensors.get(name)
    if t is None:
        raise _bad(path, f"tensor '{name}' is missing")
    if t.dtype != dtype or t.ndim != rank:
        raise _bad(path, f"tensor '{name}' is {t.dtype} {list(t.shape)}, expected {np.dtype(dtype)} of rank {rank}")
    return t


def _image_set(path):
    """Validated (images, labels, synthetic or None, meta) of an image set."""
    tensors, meta = _read(path, ["image-set"])
    images = _tensor(path, tensors, "images", np.uint8, 4)
    labels = _tensor(path, tensors, "labels", np.uint8, 1)
    n = images.shape[0]
    if labels.shape[0] != n:
        raise _bad(path, f"{n} images but {labels.shape[0]} labels")
    try:
        num_classes = int(meta["num_classes"])
    except (KeyError, ValueError):
        raise _bad(path, "metadata key 'num_classes' is missing or not an integer") from None
    if n and int(labels.max()) >= num_classes:
        raise _bad(path, f"label {int(labels.max())} is not below num_classes {num_classes}")
    synthetic = tensors.get("synthetic")
    if synthetic is not None and not _flags_ok(synthetic, n):
        raise _bad(path, f"tensor 'synthetic' must be uint8 [{n}] of 0 and 1")
    return images, labels.astype(np.int64), synthetic, meta


def _flags_ok(flags, n):
    return flags.dtype == np.uint8 and flags.shape == (n,) and flags.max(initial=0) <= 1


def load_image_set(path):
    """(images uint8 [N, C, H, W], labels int64 [N], meta dict) of an image-set
    file; meta is the file's `__metadata__`, with `config`/`class_names` parsed
    from JSON and every other value left as the string stored."""
    images, labels, _, meta = _image_set(path)
    return images, labels, meta


def load_synthetic_flags(path):
    """The optional `synthetic` tensor of an image set (mix-build
    --mark-synthetic): uint8 [N], 1 for a synthetic item; None if absent."""
    return _image_set(path)[2]


def _shape3(shape):
    return tuple(int(v) for v in (shape["c"], shape["h"], shape["w"])) if isinstance(shape, dict) else tuple(shape)


def fit_to_shape(images, shape):
    """data::fit_to_shape on uint8 [N, C, H, W]: a 1-channel set repeated over
    3 channels, smaller images zero-padded symmetrically; else ValueError."""
    c, h, w = _shape3(shape)
    n, sc, sh, sw = images.shape
    if (sc, sh, sw) == (c, h, w):
        return images
    channels_ok = sc == c or (sc == 1 and c > 1)
    if not channels_ok or sh > h or sw > w or (h - sh) % 2 or (w - sw) % 2:
        raise ValueError(
            f"images of {sc}x{sh}x{sw} cannot be fitted to the model's input {c}x{h}x{w} "
            "(only 1->3 channel repeat and symmetric zero-padding)"
        )
    out = np.zeros((n, c, h, w), dtype=images.dtype)
    py, px = (h - sh) // 2, (w - sw) // 2
    out[:, :, py : py + sh, px : px + sw] = images if sc == c else np.repeat(images, c, axis=1)
    return out


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("synthmix_io: this function needs PyTorch (pip install torch)") from None
    return torch


def preprocess(images_u8, input_shape=None):
    """Our classifiers' input transform: uint8 images [N, C, H, W] (or one
    [C, H, W]) fitted to `input_shape` (C, H, W) (or a config's `input` dict;
    None keeps the shape), times float32 1/255. Returns a float32 tensor."""
    torch = _torch()
    x = images_u8.numpy() if isinstance(images_u8, torch.Tensor) else np.asarray(images_u8)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ValueError(f"preprocess needs uint8 [N, C, H, W] or [C, H, W], got {x.dtype} {list(x.shape)}")
    one = x.ndim == 3
    x = x[None] if one else x
    if input_shape is not None:
        x = fit_to_shape(x, input_shape)
    out = torch.from_numpy(x.astype(np.float32) * INV_255)
    return out[0] if one else out


def to_pixels(x):
    """gan::to_pixels: images in [-1, 1] to uint8 as round((x + 1) * 127.5)
    (half away from zero, as Rust's f32::round), clamped to 0-255."""
    torch = _torch()
    v = ((x.float() + 1.0) * 127.5).double()  # scaled in f32 as Rust; rounded exactly in f64
    return torch.where(v < 0, torch.ceil(v - 0.5), torch.floor(v + 0.5)).clamp(0, 255).to(torch.uint8)


def read_checkpoint(path, kind):
    """(weights by name as float32 numpy arrays, metadata) of a checkpoint of
    `kind` (classifier, generator, discriminator), validated as the Rust
    reader does: every tensor F32 and finite."""
    tensors, meta = _read(path, [kind])
    for name, t in tensors.items():
        if t.dtype != np.float32:
            raise _bad(path, f"tensor '{name}' is {t.dtype}, expected float32")
        if not np.isfinite(t).all():
            raise _bad(path, f"tensor '{name}' holds NaN or infinite weights")
    if not isinstance(meta.get("config"), dict):
        raise _bad(path, "metadata key 'config' is missing or not a JSON object")
    return tensors, meta


def _load_weights(path, module, weights):
    """Sets every parameter of `module` from `weights` (same names as the
    checkpoint), all present with the same shapes and none left over."""
    torch = _torch()
    own = module.state_dict()
    for name, t in own.items():
        if name not in weights:
            raise _bad(path, f"tensor '{name}' is missing for arch {module.arch}")
        if tuple(weights[name].shape) != tuple(t.shape):
            have, need = list(weights[name].shape), list(t.shape)
            raise _bad(path, f"tensor '{name}' has shape {have}, arch {module.arch} needs {need}")
    extra = sorted(set(weights) - set(own))
    if extra:
        raise _bad(path, f"unexpected tensor '{extra[0]}' for arch {module.arch}")
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    return module.eval()


def load_classifier(path):
    """The classifier of a checkpoint as a torch.nn.Module in eval mode:
    `model(preprocess(images, model.input_shape))` gives our logits;
    `model.preprocess(images)` does the same fitting and scaling."""
    weights, meta = read_checkpoint(path, "classifier")
    try:
        model = _classes().Classifier(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(path, f"config is not a classifier config ({e})") from None
    return _load_weights(path, model, weights)


def load_generator(path):
    """The generator of a checkpoint as a torch.nn.Module in eval mode:
    `model(z, labels)` gives images in [-1, 1]; `to_pixels` of them are
    synth-sample's uint8 images for the same noise."""
    weights, meta = read_checkpoint(path, "generator")
    if meta.get("arch") == "unet":
        raise _bad(path, "is a diffusion generator (arch unet): load it with load_unet")
    try:
        model = _classes().Generator(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(path, f"config is not a GAN config ({e})") from None
    return _load_weights(path, model, weights)


def load_unet(path):
    """The U-Net of a diffusion generator checkpoint (dpm-train's `--out`,
    the EMA weights) as a torch.nn.Module in eval mode: `model(x_t, t, labels)`
    gives our predicted noise eps; labels equal to `model.num_classes` give
    the unconditional eps that classifier-free guidance mixes in."""
    weights, meta = read_checkpoint(path, "generator")
    if meta.get("arch") != "unet":
        raise _bad(path, f"arch {meta.get('arch')} is not a diffusion generator (unet)")
    try:
        model = _classes().Unet(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(path, f"config is not a U-Net config ({e})") from None
    return _load_weights(path, model, weights)


@functools.lru_cache(maxsize=None)
def _classes():
    """The torch classes, defined on first use so torch stays optional."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class Embedding(nn.Module):
        """A label embedding whose parameter keeps our name (`embeddings`)."""

        def __init__(self, n, dim):
            super().__init__()
            self.embeddings = nn.Parameter(torch.zeros(n, dim))

        def forward(self, labels):
            return self.embeddings[labels]

    class Classifier(nn.Module):
        """model::classifier::Classifier (simple-cnn, deep-cnn)."""

        def __init__(self, config):
            super().__init__()
            self.config, self.arch = config, config["arch"]
            self.input_shape = _shape3(config["input"])
            c, h, w = self.input_shape
            if self.arch == "simple-cnn":
                # A plain list: the modules are registered under our names.
                self.convs = [self._conv(f"conv{i + 1}", ci, co, 0) for i, (ci, co) in enumerate(self._pairs(c))]
                for _ in config["channels"]:
                    h, w = (h - 2) // 2, (w - 2) // 2
            elif self.arch == "deep-cnn":
                self.blocks = []  # a plain list: the modules are registered under our names
                per_block = config.get("convs_per_block", 2)
                for i, (ci, co) in enumerate(self._pairs(c)):
                    block = nn.Module()
                    block.convs = [nn.Conv2d(ci if j == 0 else co, co, 3, padding=1) for j in range(per_block)]
                    for j, conv in enumerate(block.convs):
                        block.add_module(f"conv{j + 1}", conv)
                    self.add_module(f"block{i + 1}", block)
                    self.blocks.append(block)
                    h, w = h // 2, w // 2
                self.drop_conv = nn.Dropout(config["dropout_conv"])
            else:
                raise ValueError(f"unknown arch '{self.arch}'")
            if h <= 0 or w <= 0:
                raise ValueError(f"input {c}x{h}x{w} is too small for {self.arch}")
            self.fc1 = nn.Linear(config["channels"][-1] * h * w, config["hidden"])
            self.fc2 = nn.Linear(config["hidden"], config["num_classes"])
            self.drop_head = nn.Dropout(config["dropout_head"])

        def _pairs(self, c):
            chans = [c] + list(self.config["channels"])
            return list(zip(chans[:-1], chans[1:]))

        def _conv(self, name, ci, co, padding):
            conv = nn.Conv2d(ci, co, 3, padding=padding)
            self.add_module(name, conv)
            return conv

        def preprocess(self, images_u8):
            return preprocess(images_u8, self.input_shape)

        def features(self, x):
            """The penultimate layer (dense `hidden` after ReLU): FID's features."""
            if self.arch == "simple-cnn":
                for conv in self.convs:
                    x = F.max_pool2d(F.relu(conv(x)), 2)
            else:
                for block in self.blocks:
                    for conv in block.convs:
                        x = F.relu(conv(x))
                    x = self.drop_conv(F.max_pool2d(x, 2))
            return F.relu(self.fc1(x.flatten(1)))

        def forward(self, x):
            return self.fc2(self.drop_head(self.features(x)))

    def pixel_norm(x):
        return x / torch.sqrt(x.square().mean(dim=1, keepdim=True) + PIXEL_NORM_EPS)

    class Generator(nn.Module):
        """model::gan::Generator (mlp, dcgan)."""

        def __init__(self, config):
            super().__init__()
            self.config, self.arch = config, config["arch"]
            self.image_shape = _shape3(config["image"])
            self.latent, self.leak = config["latent"], float(config["leak"])
            c, h, w = self.image_shape
            g = list(config["g_hidden"])
            self.label_emb = Embedding(config["num_classes"], config["embed"])
            d_in = config["latent"] + config["embed"]
            if self.arch == "mlp":
                widths = [d_in] + g + [c * h * w]
                for i in range(len(widths) - 1):
                    self.add_module(f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1]))
                self.n_fc = len(widths) - 1
            elif self.arch == "dcgan":
                if len(g) != 3 or h % 4 or w % 4:
                    raise ValueError("dcgan needs 3 generator channel counts and sides divisible by 4")
                self.fc1 = nn.Linear(d_in, g[0] * (h // 4) * (w // 4))
                self.conv1 = nn.Conv2d(g[0], g[1], 3, padding=1)
                self.conv2 = nn.Conv2d(g[1], g[2], 3, padding=1)
                self.conv3 = nn.Conv2d(g[2], c, 3, padding=1)
            else:
                raise ValueError(f"unknown arch '{self.arch}'")

        def forward(self, z, labels):
            """Images [N, C, H, W] in [-1, 1] for noise z [N, latent] and labels [N]."""
            n, (c, h, w) = z.shape[0], self.image_shape
            x = torch.cat([z, self.label_emb(labels.long())], dim=1)
            if self.arch == "mlp":
                for i in range(1, self.n_fc):
                    x = F.leaky_relu(getattr(self, f"fc{i}")(x), self.leak)
                return torch.tanh(getattr(self, f"fc{self.n_fc}")(x)).reshape(n, c, h, w)
            g0 = self.config["g_hidden"][0]
            x = pixel_norm(F.leaky_relu(self.fc1(x), self.leak).reshape(n, g0, h // 4, w // 4))
            x = F.interpolate(x, size=(h // 2, w // 2), mode="nearest")
            x = pixel_norm(F.relu(self.conv1(x)))
            x = F.interpolate(x, size=(h, w), mode="nearest")
            x = pixel_norm(F.relu(self.conv2(x)))
            return torch.tanh(self.conv3(x))

    class ResBlock(nn.Module):
        """model::unet's residual block: conv(SiLU(GN(x))) + Linear(emb),
        conv(SiLU(GN(h))), added to x (through a 1x1 conv where widths differ)."""

        def __init__(self, c_in, c_out, emb, groups):
            super().__init__()
            self.norm1 = nn.GroupNorm(groups, c_in, eps=1e-5)
            self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
            self.emb = nn.Linear(emb, c_out)
            self.norm2 = nn.GroupNorm(groups, c_out, eps=1e-5)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
            self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

        def forward(self, x, emb_act):
            h = self.conv1(F.silu(self.norm1(x)))
            h = self.conv2(F.silu(self.norm2(h + self.emb(emb_act)[:, :, None, None])))
            return (self.skip(x) if self.skip is not None else x) + h

    class Attention(nn.Module):
        """Single-head self-attention over the positions of the lowest level, residual."""

        def __init__(self, c, groups):
            super().__init__()
            self.norm = nn.GroupNorm(groups, c, eps=1e-5)
            self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)

        def forward(self, x):
            n, c, h, w = x.shape
            q, k, v = self.qkv(self.norm(x).reshape(n, c, h * w).transpose(1, 2)).chunk(3, dim=2)
            a = torch.softmax(q @ k.transpose(1, 2) / c**0.5, dim=-1) @ v
            return x + self.proj(a).transpose(1, 2).reshape(n, c, h, w)

    class Unet(nn.Module):
        """model::unet::Unet for a U-Net config (the checkpoint's `config`):
        conv in; per level `res_blocks` residual blocks, kept for the skip,
        then (but at the lowest) average pool + conv; middle block,
        attention (on `attention`), block; per level upwards the skip
        concatenated, blocks, then (but at the top) nearest upsample + conv;
        GN, SiLU, conv out. Parameter names are the checkpoint's."""

        def __init__(self, config):
            super().__init__()
            self.config, self.arch = config, "unet"
            self.image_shape = _shape3(config["image"])
            self.num_classes, self.base = int(config["num_classes"]), int(config["base"])
            c, groups, e = self.image_shape[0], config["groups"], 4 * self.base
            widths, blocks = [self.base * m for m in config["mults"]], int(config["res_blocks"])
            if not widths or blocks < 1 or any(w % groups for w in widths):
                raise ValueError(f"levels {widths}, {blocks} blocks and {groups} groups do not make a U-Net")
            self.time = nn.Module()
            self.time.fc1, self.time.fc2 = nn.Linear(self.base, e), nn.Linear(e, e)
            self.class_emb = Embedding(self.num_classes + 1, e)
            self.conv_in = nn.Conv2d(c, self.base, 3, padding=1)
            self.down, self.up, prev = nn.ModuleList(), nn.ModuleList(), self.base
            for i, w in enumerate(widths):
                level = nn.Module()
                level.res = nn.ModuleList(ResBlock(prev if j == 0 else w, w, e, groups) for j in range(blocks))
                level.down = nn.Conv2d(w, w, 3, padding=1) if i + 1 < len(widths) else None
                self.down.append(level)
                prev = w
            self.mid = nn.Module()
            self.mid.res1, self.mid.res2 = ResBlock(prev, prev, e, groups), ResBlock(prev, prev, e, groups)
            self.mid.attn = Attention(prev, groups) if config["attention"] else None
            ups = {}
            for i, w in reversed(list(enumerate(widths))):
                level = nn.Module()
                level.res = nn.ModuleList(ResBlock(prev + w if j == 0 else w, w, e, groups) for j in range(blocks))
                level.up = nn.Conv2d(w, w, 3, padding=1) if i > 0 else None
                ups[i], prev = level, w
            self.up.extend(ups[i] for i in range(len(widths)))  # named by level, run from the lowest
            self.out_norm = nn.GroupNorm(groups, self.base, eps=1e-5)
            self.conv_out = nn.Conv2d(self.base, c, 3, padding=1)

        def time_embedding(self, t):
            """unet::timestep_embedding: [cos(t f_i), sin(t f_i)], f_i =
            10000^(-i/half), computed in float64 as ours, then float32."""
            half = self.base // 2
            i = torch.arange(half, dtype=torch.float64)
            a = t.double()[:, None] * torch.exp(-np.log(10000.0) * i / half)[None, :]
            return torch.cat([torch.cos(a), torch.sin(a)], dim=1).float()

        def forward(self, x, t, y):
            """eps [N, C, H, W] for x_t [N, C, H, W], timesteps t [N] and labels y [N]."""
            emb = self.time.fc2(F.silu(self.time.fc1(self.time_embedding(t))))
            emb = F.silu(emb + self.class_emb(y.long()))
            h, skips = self.conv_in(x), []
            for level in self.down:
                for block in level.res:
                    h = block(h, emb)
                skips.append(h)
                if level.down is not None:
                    h = level.down(F.avg_pool2d(h, 2))
            h = self.mid.res1(h, emb)
            h = self.mid.res2(self.mid.attn(h) if self.mid.attn is not None else h, emb)
            for level in reversed(self.up):
                h = torch.cat([h, skips.pop()], dim=1)
                for block in level.res:
                    h = block(h, emb)
                if level.up is not None:
                    h = level.up(F.interpolate(h, scale_factor=2, mode="nearest"))
            return self.conv_out(F.silu(self.out_norm(h)))

    class ImageSetDataset(torch.utils.data.Dataset):
        """An image set as a map-style Dataset of (transform(image), label):
        image uint8 [C, H, W], label an int. `transform=None` gives the raw
        uint8 array; `.labels`, `.meta` and `.synthetic` (or None) are the
        whole set's."""

        def __init__(self, path, transform=preprocess):
            self.images, self.labels, self.synthetic, self.meta = _image_set(path)
            self.transform = transform

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            image = self.images[i]
            return (self.transform(image) if self.transform else image), int(self.labels[i])

    classes = dict(Classifier=Classifier, Generator=Generator, Unet=Unet, ImageSetDataset=ImageSetDataset)
    return type("Classes", (), classes)


def __getattr__(name):
    # The torch classes exist once torch is imported (PEP 562).
    if name in ("Classifier", "Generator", "Unet", "ImageSetDataset"):
        return getattr(_classes(), name)
    raise AttributeError(f"module 'synthmix_io' has no attribute '{name}'")

#!/usr/bin/env python3
"""Checks synthmix's MNIST-C corruptions against the reference functions.

The reference functions below are those of google-research/mnist-c,
`corruptions.py` (Copyright 2018 Google LLC, Apache License 2.0), adapted
only where today's libraries differ from 2019's and so that random
parameters can be passed in:

- `np.float_` and `np.int` are gone from numpy: float64 and int.
- `gaussian(x, sigma=s, multichannel=True)` on a 2-D image blurred the rows
  axis only (scikit-image took the last axis as channels): written as
  `sigma=(s, 0)`, which every version reads the same way.
- `AffineTransform(shear=c)` was `[[1, -sin c], [0, cos c]]` in 2019;
  scikit-image 0.22+ reads shear as a tangent, so the matrix is built here.
- `sk.util.random_noise` is given a seed; motion blur calls ImageMagick's
  `MagickMotionBlurImage` through Wand as the reference does.

Two checks, by whether a corruption's output is fixed by its input:

- per pixel (identity, stripe, brightness, scale, canny_edges, and, given
  their random parameter, shear, rotate (sign), translate (two signs),
  dotted_line and zigzag (endpoints)): at least 99 % of pixels within one
  grey level of the reference. Where a random parameter enters, the
  reference is run with every value it can take and the closest is used per
  image (a wrong algorithm matches no value); the drawn values must also be
  balanced (each sign 30-70 % of images).
- in distribution (shot_noise, impulse_noise, glass_blur, motion_blur's
  random angle, fog, spatter): their pixels depend on continuous random
  draws that no seed shared with numpy can reproduce, so over the same images
  the pixel mean and standard deviation must agree within 1.5 grey levels
  and the total-variation distance between 16-bin histograms be at most 0.02
  (fog: 2000 images, 3.0, 3.0 and 0.04, as its fractal moves whole images).
  Motion blur is also checked per pixel at the angle (0.5 degree grid) that
  best matches each of 40 images.

Usage: mnist_c_reference.py --synthmix BIN --data-dir DIR [--n 200]
Prints one line per corruption and exits 1 if any check fails.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from io import BytesIO

import numpy as np
import skimage as sk
from safetensors.numpy import load_file
from skimage import feature, transform
from skimage.filters import gaussian

PIXEL = ["identity", "stripe", "brightness", "scale", "canny_edges", "shear", "rotate", "translate",
         "dotted_line", "zigzag"]
DISTRIBUTION = ["shot_noise", "impulse_noise", "glass_blur", "motion_blur", "fog", "spatter"]
PIXEL_BOUND = 0.99
# (images, mean, std, histogram TV) per distribution check. Fog's whole image
# shifts with its fractal (per-image mean sd ~36 grey levels), so it needs
# 2000 images and wider bounds: two reference runs differ by 0.2 / 0.4 / 0.017.
DIST_BOUNDS = {"fog": (2000, 3.0, 3.0, 0.04)}
DEFAULT_DIST_BOUNDS = (None, 1.5, 1.5, 0.02)

# ---------------------------------------------------------------------------
# Reference functions (google-research/mnist-c corruptions.py, Apache-2.0).
# ---------------------------------------------------------------------------


def identity(x):
    return np.array(x, dtype=np.float32)


def shot_noise(x, severity=5):
    c = [60, 25, 12, 5, 3][severity - 1]
    x = np.array(x) / 255.
    x = np.clip(np.random.poisson(x * c) / float(c), 0, 1) * 255
    return x.astype(np.float32)


def impulse_noise(x, severity=4, rng=None):
    c = [.03, .06, .09, 0.17, 0.27][severity - 1]
    x = sk.util.random_noise(np.array(x) / 255., mode='s&p', amount=c, rng=rng)
    x = np.clip(x, 0, 1) * 255
    return x.astype(np.float32)


def glass_blur(x, severity=1):
    c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    x = np.uint8(gaussian(np.array(x) / 255., sigma=(c[0], 0)) * 255)
    for i in range(c[2]):
        for h in range(28 - c[1], c[1], -1):
            for w in range(28 - c[1], c[1], -1):
                if np.random.choice([True, False], 1)[0]:
                    dx, dy = np.random.randint(-c[1], c[1], size=(2,))
                    h_prime, w_prime = h + dy, w + dx
                    x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    x = np.clip(gaussian(x / 255., sigma=(c[0], 0)), 0, 1) * 255
    return x.astype(np.float32)


def motion_blur(x, severity=1, angle=None):
    import cv2
    from PIL import Image
    from wand.api import library as wandlibrary
    from wand.image import Image as WandImage
    import ctypes

    wandlibrary.MagickMotionBlurImage.argtypes = (ctypes.c_void_p, ctypes.c_double, ctypes.c_double,
                                                  ctypes.c_double)
    c = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    output = BytesIO()
    Image.fromarray(np.asarray(x, dtype=np.uint8), mode='L').save(output, format='PNG')
    img = WandImage(blob=output.getvalue())
    if angle is None:
        angle = np.random.uniform(-45, 45)
    wandlibrary.MagickMotionBlurImage(img.wand, c[0], c[1], angle)
    x = cv2.imdecode(np.frombuffer(img.make_blob(), np.uint8), cv2.IMREAD_UNCHANGED)
    return np.clip(np.array(x), 0, 255).astype(np.float32)


def plasma_fractal(mapsize=256, wibbledecay=3):
    assert (mapsize & (mapsize - 1) == 0)
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100

    def wibbledmean(array):
        return array / 4 + wibble * np.random.uniform(-wibble, wibble, array.shape)

    def fillsquares():
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(squareaccum)

    def filldiamonds():
        mapsize = maparray.shape[0]
        drgrid = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ldrsum = drgrid + np.roll(drgrid, 1, axis=0)
        lulsum = ulgrid + np.roll(ulgrid, -1, axis=1)
        ltsum = ldrsum + lulsum
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(ltsum)
        tdrsum = drgrid + np.roll(drgrid, 1, axis=1)
        tulsum = ulgrid + np.roll(ulgrid, -1, axis=0)
        ttsum = tdrsum + tulsum
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)

    while stepsize >= 2:
        fillsquares()
        filldiamonds()
        stepsize //= 2
        wibble /= wibbledecay

    maparray -= maparray.min()
    return maparray / maparray.max()


def line_from_points(c0, r0, c1, r1):
    if c1 == c0:
        return np.zeros((28, 28))
    cc, rr = np.meshgrid(np.linspace(0, 27, 28), np.linspace(0, 27, 28), sparse=True)
    m = (r1 - r0) / (c1 - c0)
    f = lambda c: m * (c - c0) + r0  # noqa: E731
    dist = np.clip(np.abs(rr - f(cc)), 0, 2.3 - 1e-10)
    corruption = np.log(1 - dist / 2.3) + 1
    corruption = np.clip(corruption, 0, 1)
    l = int(np.floor(c0))  # noqa: E741
    r = int(np.ceil(c1))
    corruption[:, :l] = 0
    corruption[:, r:] = 0
    return np.clip(corruption, 0, 1)


def affine_2019(scale=1.0, rotation=0.0, shear=0.0, translation=(0.0, 0.0)):
    """AffineTransform(scale, rotation, shear, translation) as scikit-image had it in 2019."""
    m = np.array([[scale * np.cos(rotation), -scale * np.sin(rotation + shear), translation[0]],
                  [scale * np.sin(rotation), scale * np.cos(rotation + shear), translation[1]],
                  [0, 0, 1]])
    return transform.AffineTransform(matrix=m)


def centred_warp(x, **kw):
    aff = affine_2019(**kw)
    a1, a2 = aff.params[0, :2]
    b1, b2 = aff.params[1, :2]
    a3 = 13.5 * (1 - a1 - a2)
    b3 = 13.5 * (1 - b1 - b2)
    aff = affine_2019(translation=[a3, b3], **kw)
    x = np.array(x) / 255.
    x = transform.warp(x, inverse_map=aff)
    x = np.clip(x, 0, 1) * 255.
    return x.astype(np.float32)


def shear(x, severity=2, bit=None):
    c = [0.2, 0.4, 0.6, 0.8, 1.][severity - 1]
    bit = np.random.choice([-1, 1], 1)[0] if bit is None else bit
    return centred_warp(x, shear=c * bit)


def rotate(x, severity=2, bit=None):
    c = [0.2, 0.4, 0.6, 0.8, 1.][severity - 1]
    bit = np.random.choice([-1, 1], 1)[0] if bit is None else bit
    return centred_warp(x, rotation=c * bit)


def scale(x, severity=3):
    c = [1 / .9, 1 / .8, 1 / .7, 1 / .6, 1 / .5][severity - 1]
    return centred_warp(x, scale=c)


def translate(x, severity=3, bit=None):
    c = [1, 2, 3, 4, 5][severity - 1]
    bit = np.random.choice([-1, 1], 2) if bit is None else bit
    aff = transform.AffineTransform(translation=[c * bit[0], c * bit[1]])
    x = np.array(x) / 255.
    x = transform.warp(x, inverse_map=aff)
    x = np.clip(x, 0, 1) * 255
    return x.astype(np.float32)


def brightness(x, severity=5):
    c = [.1, .2, .3, .4, .5][severity - 1]
    x = np.array(x) / 255.
    x = sk.color.gray2rgb(x)
    x = sk.color.rgb2hsv(x)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    x = sk.color.hsv2rgb(x)
    x = sk.color.rgb2gray(x)
    x = np.clip(x, 0, 1) * 255
    return x.astype(np.float32)


def fog(x, severity=5):
    c = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][severity - 1]
    x = np.array(x) / 255.
    max_val = x.max()
    x = x + c[0] * plasma_fractal(wibbledecay=c[1])[:28, :28]
    x = np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255
    return x.astype(np.float32)


def spatter(x, severity=4):
    c = [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
         (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)][severity - 1]
    x = np.array(x, dtype=np.float32) / 255.
    liquid_layer = np.random.normal(size=x.shape, loc=c[0], scale=c[1])
    liquid_layer = gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    m = np.where(liquid_layer > c[3], 1, 0)
    m = gaussian(m.astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    color = 63 / 255. * np.ones_like(x) * m
    x *= (1 - m)
    return np.clip(x + color, 0, 1) * 255


def stripe(x):
    x = np.array(x).astype(np.float32)
    x[:, :7] = 255. - x[:, :7]
    x[:, 21:] = 255. - x[:, 21:]
    return x


def canny_edges(x):
    x = np.array(x) / 255.
    x = feature.canny(x).astype(np.float32)
    return x * 255


def dotted_line_map(r0, r1):
    corruption = line_from_points(0, r0, 27, r1)
    idx = np.arange(0, 30, 2)
    off = True
    for i in range(1, len(idx)):
        if off:
            corruption[:, idx[i - 1]:idx[i]] = 0
        off = not off
    return corruption


def zigzag_maps(r0, delta):
    """The reference zigzag's line layers for r0 and r1 = r0 + delta."""
    a = 2.
    b = 2.
    c0, c1 = 2, 25
    r1 = r0 + delta
    theta = np.arctan((r1 - r0) / (c1 - c0))
    d = (c1 - c0) / np.cos(theta)
    endpoints = [(0, 0)]
    for i in range(int((d - a) // (2 * a)) + 1):
        c_i = (2 * i + 1) * a
        r_i = (-1) ** i * b
        endpoints.append((c_i, r_i))
    max_c = (2 * a) * (d // (2 * a))
    if d != max_c:
        endpoints.append((d, r_i / (2 * (d - max_c))))
    endpoints = np.array(endpoints).T
    M = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    endpoints = M.dot(endpoints)
    cs, rs = endpoints
    cs += c0
    rs += r0
    return [line_from_points(cs[i - 1], rs[i - 1], cs[i], rs[i]) for i in range(1, endpoints.shape[1])]


# ---------------------------------------------------------------------------
# The comparison.
# ---------------------------------------------------------------------------


def save(x):
    """How the MNIST-C files were written."""
    return np.round(x).astype(np.uint8)


def read_mnist_test(data_dir, n):
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"]:
        p = os.path.join(data_dir, "mnist", name)
        if os.path.exists(p):
            raw = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
            return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    sys.exit(f"error: no MNIST test images in {data_dir}/mnist")


def ours(synthmix, data_dir, corruption, tmp, n):
    out = os.path.join(tmp, f"{corruption}.safetensors")
    started = time.time()
    subprocess.run([synthmix, "--data-dir", data_dir, "data", "export", f"mnist-c/{corruption}:test", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.time() - started
    return load_file(out)["images"][:n, 0], seconds


def within_one(a, b):
    return np.abs(a.astype(int) - b.astype(int)) <= 1


def best_of(mine, candidates):
    """Per image, the candidate output (list of arrays) closest to ours and its index."""
    scores = [within_one(mine, c).sum() for c in candidates]
    k = int(np.argmax(scores))
    return candidates[k], k


def pixel_check(name, clean, mine):
    """Per-pixel reference outputs, each random parameter matched per image; returns (ref, detail)."""
    simple = {"identity": identity, "stripe": stripe, "brightness": brightness, "scale": scale,
              "canny_edges": canny_edges}
    if name in simple:
        return np.stack([save(simple[name](x)) for x in clean]), ""
    refs, picks = [], []
    if name == "dotted_line":
        params = [(r0, r1) for r0 in range(27) for r1 in range(27)]
        stacked = np.stack([[dotted_line_map(r0, r1)] for r0, r1 in params])
    elif name == "zigzag":
        params = [(r0, d) for r0 in range(27) for d in range(-5, 5)]
        stacked = np.stack([zigzag_maps(r0, d) for r0, d in params])
    for x, m in zip(clean, mine):
        if name in ("shear", "rotate"):
            f = shear if name == "shear" else rotate
            ref, k = best_of(m, [save(f(x, bit=b)) for b in (-1, 1)])
        elif name == "translate":
            bits = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
            ref, k = best_of(m, [save(translate(x, bit=b)) for b in bits])
            k = bits[k]
        else:
            # Every candidate endpoint pair at once; zigzag's layers are added and clipped in turn.
            out = np.broadcast_to(np.array(x) / 255., stacked.shape[:1] + (28, 28))
            for j in range(stacked.shape[1]):
                out = np.clip(out + stacked[:, j], 0, 1)
            cands = save((out * 255).astype(np.float32))
            k = int(np.argmax(within_one(cands, m[None]).sum(axis=(1, 2))))
            ref, k = cands[k], params[k]
        refs.append(ref)
        picks.append(k)
    return np.stack(refs), balance(name, picks)


def balance(name, picks):
    """How often each random value was drawn: (detail text, ok)."""
    picks = np.array(picks)
    if name in ("shear", "rotate"):
        share = float(np.mean(picks == 1))
        return f"sign +1 in {share:.0%} of images", 0.3 <= share <= 0.7
    if name == "translate":
        sx, sy = float(np.mean(picks[:, 0] == 1)), float(np.mean(picks[:, 1] == 1))
        return f"dx>0 {sx:.0%}, dy>0 {sy:.0%} of images", 0.3 <= sx <= 0.7 and 0.3 <= sy <= 0.7
    lo, hi = picks.min(axis=0), picks.max(axis=0)
    return f"endpoints drawn over {lo.tolist()}..{hi.tolist()}", True


def dist_reference(name, clean):
    np.random.seed(0)
    if name == "impulse_noise":
        return np.stack([save(impulse_noise(x, rng=i)) for i, x in enumerate(clean)])
    f = {"shot_noise": shot_noise, "glass_blur": glass_blur, "motion_blur": motion_blur, "fog": fog,
         "spatter": spatter}[name]
    return np.stack([save(f(x)) for x in clean])


def dist_stats(mine, ref, bounds=DEFAULT_DIST_BOUNDS):
    _, mean_bound, std_bound, tv_bound = bounds
    edges = np.arange(0, 257, 16)
    hm = np.histogram(mine, edges)[0] / mine.size
    hr = np.histogram(ref, edges)[0] / ref.size
    dmean = abs(float(mine.mean()) - float(ref.mean()))
    dstd = abs(float(mine.std()) - float(ref.std()))
    tv = 0.5 * float(np.abs(hm - hr).sum())
    ok = dmean <= mean_bound and dstd <= std_bound and tv <= tv_bound
    text = (f"mean {mine.mean():.2f} vs {ref.mean():.2f}, std {mine.std():.2f} vs {ref.std():.2f}, "
            f"histogram TV {tv:.4f}")
    return text, ok, {"mean": float(mine.mean()), "ref_mean": float(ref.mean()), "std": float(mine.std()),
                      "ref_std": float(ref.std()), "tv": tv}


def motion_blur_at_angle(clean, mine, images=40):
    """Per pixel at each image's best angle on a 0.5 degree grid."""
    angles = np.arange(-45, 45.01, 0.5)
    hits = []
    for x, m in zip(clean[:images], mine[:images]):
        ref, _ = best_of(m, [save(motion_blur(x, angle=a)) for a in angles])
        hits.append(within_one(m, ref).mean())
    return float(np.mean(hits))


def have_wand():
    try:
        from wand.image import Image  # noqa: F401
        return None
    except Exception as e:  # ImportError, or the ImageMagick library missing
        return f"{type(e).__name__}: {e}"


def run_one(name, clean, mine, n_pixel):
    if name in PIXEL:
        clean, mine = clean[:n_pixel], mine[:n_pixel]
        ref, bal = pixel_check(name, clean, mine)
        share = float(within_one(mine, ref).mean())
        exact = float((mine == ref).mean())
        detail, bal_ok = bal if bal else ("", True)
        ok = share >= PIXEL_BOUND and bal_ok
        text = f"per pixel: {share:.4%} within 1 grey level (bound {PIXEL_BOUND:.0%}), {exact:.4%} equal"
        return ok, text + (f"; {detail}" if detail else ""), {"within_one": share, "equal": exact}
    bounds = DIST_BOUNDS.get(name, DEFAULT_DIST_BOUNDS)
    n = bounds[0] or n_pixel
    ref = dist_reference(name, clean[:n])
    text, ok, stats = dist_stats(mine[:n], ref, bounds)
    text = f"{n} images, " + text
    if name == "motion_blur":
        at_angle = motion_blur_at_angle(clean[:n], mine[:n])
        stats["within_one_at_best_angle"] = at_angle
        ok = ok and at_angle >= PIXEL_BOUND
        text += f"; at the best angle: {at_angle:.4%} within 1 grey level"
    return ok, "distribution: " + text, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthmix", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--only", nargs="*", default=None, help="corruptions to check (default: all)")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    clean = read_mnist_test(a.data_dir, max([a.n] + [b[0] for b in DIST_BOUNDS.values()]))
    names = a.only or PIXEL + DISTRIBUTION
    wand_missing = have_wand()
    failed, skipped, report = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name == "motion_blur" and wand_missing:
                print(f"SKIP motion_blur: ImageMagick's Wand is not usable ({wand_missing}); "
                      "install Debian's imagemagick and pip's Wand", flush=True)
                skipped.append(name)
                continue
            mine, seconds = ours(a.synthmix, a.data_dir, name, tmp, len(clean))
            started = time.time()
            ok, text, stats = run_one(name, clean, mine, a.n)
            stats.update(ok=ok, export_s=seconds, check_s=time.time() - started)
            report[name] = stats
            print(f"{'ok  ' if ok else 'FAIL'} {name:14} {text} [export of 10000: {seconds:.1f} s]", flush=True)
            if not ok:
                failed.append(name)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    passed = len(names) - len(failed) - len(skipped)
    print(f"mnist-c reference: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Checks synthmix_io against synthmix's own outputs, under pytest.

tests/python_io.rs runs `pytest python/` with SYNTHMIX_IO_DIR naming a folder
of artifacts the stages wrote (clf-*.safetensors, gen-*.safetensors (GANs
and a diffusion U-Net),
mix.safetensors, test1000.safetensors) and reference.safetensors, the values
synthmix-core read and computed. Without that folder only the checks that
need no artifact run; the others are skipped, saying why. Needs numpy and
safetensors; without torch the model checks print `SKIP torch not installed`
and are skipped.
"""

import json
import os
import unittest

import numpy as np
from safetensors.numpy import load_file, save_file

import synthmix_io as sio

try:
    import torch
except ImportError:
    torch = None

DIR = os.environ.get("SYNTHMIX_IO_DIR") or None
needs_artifacts = unittest.skipUnless(
    DIR, "no artifacts: SYNTHMIX_IO_DIR is unset (cargo test --release --test python_io makes them and sets it)"
)
LOGIT_TOL = 1e-5
GREY_TOL = 1


def path(name):
    return os.path.join(DIR, name)


def reference():
    return load_file(path("reference.safetensors"))


class ImageSets(unittest.TestCase):
    @needs_artifacts
    def test_layout_and_values_are_the_rust_readers(self):
        ref = reference()
        for tag in ("mix", "test1000"):
            images, labels, meta = sio.load_image_set(path(f"{tag}.safetensors"))
            self.assertEqual(images.dtype, np.uint8)
            self.assertEqual(labels.dtype, np.int64)
            np.testing.assert_array_equal(images, ref[f"{tag}.images"])
            np.testing.assert_array_equal(labels, ref[f"{tag}.labels"].astype(np.int64))
            with open(path(f"{tag}.meta.json")) as f:
                self.assertEqual(meta, sio._parse_meta(tag, json.load(f)))
        self.assertEqual(sio.load_image_set(path("test1000.safetensors"))[0].shape, (1000, 1, 28, 28))
        np.testing.assert_array_equal(sio.load_synthetic_flags(path("mix.safetensors")), ref["mix.synthetic"])
        self.assertIsNone(sio.load_synthetic_flags(path("test1000.safetensors")))
        meta = sio.load_image_set(path("mix.safetensors"))[2]
        self.assertEqual((meta["source"], meta["ratio"]), ("mix", "1:1"))

    @needs_artifacts
    def test_checkpoint_metadata_is_parsed(self):
        _, meta = sio.read_checkpoint(path("clf-deep-cnn.safetensors"), "classifier")
        self.assertEqual(meta["config"]["input"], {"c": 3, "h": 32, "w": 32})

    @needs_artifacts
    def test_bad_input_is_one_valueerror_naming_the_file(self):
        cases = [
            (sio.load_image_set, "clf-simple-cnn.safetensors", "is a classifier artifact, expected image-set"),
            (sio.load_image_set, "nothing.safetensors", "no such file"),
            (sio.load_image_set, "mix.meta.json", "not a safetensors file"),
            (lambda p: sio.read_checkpoint(p, "generator"), "clf-simple-cnn.safetensors", "expected generator"),
        ]
        for fn, name, problem in cases:
            with self.assertRaises(ValueError) as cm:
                fn(path(name))
            msg = str(cm.exception)
            self.assertTrue(msg.startswith(path(name) + ": "), msg)
            self.assertIn(problem, msg)
            self.assertNotIn("\n", msg)

    def test_fit_to_shape_pads_and_repeats(self):
        x = np.arange(2 * 1 * 28 * 28, dtype=np.uint8).reshape(2, 1, 28, 28)
        y = sio.fit_to_shape(x, {"c": 3, "h": 32, "w": 32})
        self.assertEqual(y.shape, (2, 3, 32, 32))
        for c in range(3):
            np.testing.assert_array_equal(y[:, c, 2:30, 2:30], x[:, 0])
        self.assertEqual(int(y[:, :, :2].max()), 0)
        with self.assertRaises(ValueError):
            sio.fit_to_shape(x, (1, 27, 27))


class Models(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if torch is None:
            print("SKIP torch not installed", flush=True)

    def setUp(self):
        if torch is None:
            self.skipTest("torch not installed")

    @needs_artifacts
    def test_classifier_logits_equal_ours(self):
        ref = reference()
        images, labels, _ = sio.load_image_set(path("test1000.safetensors"))
        # deep-cnn-1conv: the deep CNN with one conv per block (--convs-per-block 1).
        for arch in ("simple-cnn", "deep-cnn", "deep-cnn-1conv"):
            model = sio.load_classifier(path(f"clf-{arch}.safetensors"))
            self.assertFalse(model.training)
            with torch.no_grad():
                logits = model(sio.preprocess(images, model.input_shape)).numpy()
            want = ref[f"logits.{arch}"]
            diff = float(np.abs(logits - want).max())
            agree = float((logits.argmax(1) == want.argmax(1)).mean())
            print(f"{arch}: max |logit diff| {diff:.3g} on {len(images)} test images "
                  f"(|logits| up to {np.abs(want).max():.3g}, argmax agreement {agree:.4f})", flush=True)
            self.assertLessEqual(diff, LOGIT_TOL, arch)

    @needs_artifacts
    def test_dataset_items_are_preprocessed_images(self):
        model = sio.load_classifier(path("clf-deep-cnn.safetensors"))
        ds = sio.ImageSetDataset(path("mix.safetensors"), transform=model.preprocess)
        images, labels, _ = sio.load_image_set(path("mix.safetensors"))
        self.assertEqual(len(ds), len(labels))
        x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
        self.assertTrue(torch.equal(x, sio.preprocess(images, (3, 32, 32))))
        self.assertTrue(torch.equal(y, torch.from_numpy(labels)))
        self.assertEqual(x.dtype, torch.float32)
        self.assertEqual(float(x.max()), 1.0)
        self.assertIsNotNone(ds.synthetic)
        self.assertIsInstance(ds, torch.utils.data.Dataset)
        raw, _ = sio.ImageSetDataset(path("mix.safetensors"), transform=None)[0]
        np.testing.assert_array_equal(raw, images[0])

    @needs_artifacts
    def test_generator_images_equal_ours(self):
        ref = reference()
        for arch in ("mlp", "dcgan"):
            model = sio.load_generator(path(f"gen-{arch}.safetensors"))
            z = torch.from_numpy(ref[f"{arch}.z"])
            labels = torch.from_numpy(ref[f"{arch}.labels"].astype(np.int64))
            with torch.no_grad():
                x = model(z, labels)
            pixels = sio.to_pixels(x).numpy().astype(int)
            want = ref[f"{arch}.pixels"].astype(int)
            float_diff = float(np.abs(x.numpy() - ref[f"{arch}.images"]).max())
            grey = int(np.abs(pixels - want).max())
            same = float((pixels == want).mean())
            print(f"{arch}: max |image diff| {float_diff:.3g} in [-1, 1], max grey-level diff {grey} "
                  f"({same:.6f} of pixels equal) on {len(z)} images", flush=True)
            self.assertEqual(x.shape, ref[f"{arch}.images"].shape)
            self.assertLessEqual(grey, GREY_TOL, arch)

    @needs_artifacts
    def test_wrong_weights_are_refused_naming_the_file(self):
        weights, meta = sio.read_checkpoint(path("gen-mlp.safetensors"), "generator")
        flat = {k: json.dumps(v) if k in sio.JSON_KEYS else v for k, v in meta.items()}
        bad = path("bad-gen.safetensors")
        for change, problem in [("drop", "tensor 'fc4.bias' is missing"), ("extra", "unexpected tensor 'x'")]:
            w = {k: v for k, v in weights.items() if not (change == "drop" and k == "fc4.bias")}
            if change == "extra":
                w["x"] = np.zeros(1, np.float32)
            save_file(w, bad, metadata=flat)
            with self.assertRaises(ValueError) as cm:
                sio.load_generator(bad)
            self.assertEqual(str(cm.exception), f"{bad}: {problem} for arch mlp")

    @needs_artifacts
    def test_unet_eps_equals_ours(self):
        ref = reference()
        model = sio.load_unet(path("gen-unet.safetensors"))
        self.assertFalse(model.training)
        x, want = torch.from_numpy(ref["unet.x"]), ref["unet.eps"]
        t, y = (torch.from_numpy(ref[f"unet.{k}"].astype(np.int64)) for k in ("t", "labels"))
        self.assertIn(model.num_classes, y.tolist(), "the null class of guidance is among the labels")
        self.assertEqual((int(t.min()), int(t.max())), (0, 999))
        with torch.no_grad():
            eps = model(x, t, y).numpy()
        diff = float(np.abs(eps - want).max())
        print(f"unet: max |eps diff| {diff:.3g} on {len(y)} inputs (t 0-999, labels 0-{model.num_classes}, "
              f"|eps| up to {np.abs(want).max():.3g})", flush=True)
        self.assertEqual(eps.shape, want.shape)
        self.assertLessEqual(diff, LOGIT_TOL)
        for load, name, problem in [
            (sio.load_generator, "gen-unet.safetensors", "is a diffusion generator (arch unet): load it with load_unet"),
            (sio.load_unet, "gen-mlp.safetensors", "arch mlp is not a diffusion generator (unet)"),
        ]:
            with self.assertRaises(ValueError) as cm:
                load(path(name))
            self.assertEqual(str(cm.exception), f"{path(name)}: {problem}")

    def test_to_pixels_rounds_as_rust(self):
        t = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0])
        self.assertEqual(sio.to_pixels(t).tolist(), [0, 0, 128, 255, 255, 255])


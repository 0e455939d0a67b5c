//! Pixel-exact corruptions: the four affine warps, brightness, stripe.
//!
//! The warps are `skimage.transform.warp(x, inverse_map=aff)` with its
//! defaults: bilinear interpolation (order 1), every neighbour outside the
//! image read as 0 (mode 'constant', cval 0), and the result clipped to the
//! input's value range. `aff` maps an output pixel (column x, row y) to the
//! input point it reads. The shear matrix is scikit-image's of 2019
//! (`[[1, -sin s], [0, cos s]]`), the one MNIST-C was made with; scikit-image
//! 0.22 and later read `shear` as a tangent instead.

use rand::Rng as _;

use super::{save_f32, save_unit, Img, PIXELS, SIDE};
use crate::rng;

/// An affine map `[a1, a2, a3, b1, b2, b3]`: x' = a1 x + a2 y + a3, y' = b1 x + b2 y + b3.
type Affine = [f64; 6];

/// skimage `AffineTransform(scale, rotation, shear)` as of 2019, with the
/// reference's translation that keeps the centre (13.5, 13.5) fixed.
fn centred(scale: f64, rotation: f64, shear: f64) -> Affine {
    let a1 = scale * rotation.cos();
    let a2 = -scale * (rotation + shear).sin();
    let b1 = scale * rotation.sin();
    let b2 = scale * (rotation + shear).cos();
    [a1, a2, 13.5 * (1.0 - a1 - a2), b1, b2, 13.5 * (1.0 - b1 - b2)]
}

/// skimage's `bilinear_interpolation` with mode 'C' (outside reads `0`).
fn bilinear(img: &Img, r: f64, c: f64) -> f64 {
    let px = |r: f64, c: f64| {
        if r < 0.0 || c < 0.0 || r >= SIDE as f64 || c >= SIDE as f64 {
            0.0
        } else {
            img[r as usize * SIDE + c as usize]
        }
    };
    let (minr, minc, maxr, maxc) = (r.floor(), c.floor(), r.ceil(), c.ceil());
    let (dr, dc) = (r - minr, c - minc);
    let top = (1.0 - dc) * px(minr, minc) + dc * px(minr, maxc);
    let bottom = (1.0 - dc) * px(maxr, minc) + dc * px(maxr, maxc);
    (1.0 - dr) * top + dr * bottom
}

/// `warp(img, inverse_map=m)` then `clip(·, 0, 1) * 255`, saved.
fn warp(img: &Img, m: &Affine) -> [u8; PIXELS] {
    let mut out = [0.0; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (xf, yf) = (x as f64, y as f64);
            let c = m[0] * xf + m[1] * yf + m[2];
            let r = m[3] * xf + m[4] * yf + m[5];
            out[y * SIDE + x] = bilinear(img, r, c);
        }
    }
    // clip=True: the output stays within the input's range (cval 0 widens it).
    let lo = img.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = img.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let out_lo = out.iter().copied().fold(f64::INFINITY, f64::min);
    let out_hi = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let widen = !(lo <= 0.0 && 0.0 <= hi) && out_lo <= 0.0 && 0.0 <= out_hi;
    let (lo, hi) = if widen { (lo.min(0.0), hi.max(0.0)) } else { (lo, hi) };
    for v in out.iter_mut() {
        *v = v.clamp(lo, hi);
    }
    save_unit(&out)
}

/// `np.random.choice([-1, 1])`.
fn sign(r: &mut rng::Rng) -> f64 {
    if r.gen::<bool>() {
        1.0
    } else {
        -1.0
    }
}

const ANGLE: [f64; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];

/// Shear by ±c radians about the centre, the sign drawn per image.
pub(super) fn shear(img: &Img, s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    warp_shear(img, ANGLE[s - 1] * sign(r))
}

pub(crate) fn warp_shear(img: &Img, c: f64) -> [u8; PIXELS] {
    warp(img, &centred(1.0, 0.0, c))
}

/// Rotation by ±c radians about the centre, the sign drawn per image.
pub(super) fn rotate(img: &Img, s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    warp_rotate(img, ANGLE[s - 1] * sign(r))
}

pub(crate) fn warp_rotate(img: &Img, c: f64) -> [u8; PIXELS] {
    warp(img, &centred(1.0, c, 0.0))
}

/// Zoom out about the centre: the inverse map scales by 1/0.9 … 1/0.5.
pub(super) fn scale(img: &Img, s: usize) -> [u8; PIXELS] {
    let c = 1.0 / [0.9, 0.8, 0.7, 0.6, 0.5][s - 1];
    warp(img, &centred(c, 0.0, 0.0))
}

/// A shift by c pixels along each axis, each direction's sign drawn
/// (`np.random.choice([-1, 1], 2)`: x first).
pub(super) fn translate(img: &Img, s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    let c = [1.0, 2.0, 3.0, 4.0, 5.0][s - 1];
    let dx = c * sign(r);
    let dy = c * sign(r);
    warp_translate(img, dx, dy)
}

pub(crate) fn warp_translate(img: &Img, dx: f64, dy: f64) -> [u8; PIXELS] {
    warp(img, &[1.0, 0.0, dx, 0.0, 1.0, dy])
}

/// skimage's gray → RGB → HSV, V + c clipped, → RGB → gray. A grey pixel has
/// S = 0, so V is the grey value and the round trip is `min(x + c, 1)`
/// weighted by rgb2gray's coefficients (whose sum is 1 up to rounding).
pub(super) fn brightness(img: &Img, s: usize) -> [u8; PIXELS] {
    let c = [0.1, 0.2, 0.3, 0.4, 0.5][s - 1];
    let mut out = [0u8; PIXELS];
    for (o, &x) in out.iter_mut().zip(img) {
        let v = (x + c).clamp(0.0, 1.0);
        let g = 0.2125 * v + 0.7154 * v + 0.0721 * v;
        *o = save_f32(g.clamp(0.0, 1.0) * 255.0);
    }
    out
}

/// Columns 0–6 and 21–27 inverted.
pub(super) fn stripe(x: &[u8]) -> [u8; PIXELS] {
    let mut out = [0u8; PIXELS];
    for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
        let col = i % SIDE;
        *o = if col < 7 || col >= 21 { 255 - v } else { v };
    }
    out
}

//! `skimage.feature.canny(x)` with its defaults (sigma 1, thresholds 0.1
//! and 0.2 on the [0, 1] image): Gaussian smoothing with zeros past the
//! border, renormalised by the smoothed all-ones mask; SciPy Sobel gradients
//! (mode 'reflect'); bilinear non-maximum suppression off the one-pixel
//! border; hysteresis over 8-connected components. Edges are 255.

use super::filter::{correlate_sym, gaussian, Border};
use super::{Img, PIXELS, SIDE};

/// `ndi.sobel(img, axis)`: [-1, 0, 1] along `axis`, [1, 2, 1] across it.
fn sobel(img: &Img, axis: usize) -> Img {
    let mut d = [0.0; PIXELS];
    for r in 0..SIDE {
        for c in 0..SIDE {
            let px = |r: isize, c: isize| {
                // 'reflect' one pixel past the border is the border pixel.
                let (r, c) = (r.clamp(0, SIDE as isize - 1), c.clamp(0, SIDE as isize - 1));
                img[r as usize * SIDE + c as usize]
            };
            let (ri, ci) = (r as isize, c as isize);
            d[r * SIDE + c] = if axis == 0 { px(ri + 1, ci) - px(ri - 1, ci) } else { px(ri, ci + 1) - px(ri, ci - 1) };
        }
    }
    correlate_sym(&d, &[2.0, 1.0], 1 - axis, Border::Reflect)
}

pub(super) fn canny_edges(img: &Img) -> [u8; PIXELS] {
    let ones = [1.0; PIXELS];
    let bleed = gaussian(&ones, [1.0, 1.0], Border::Zero);
    let mut smoothed = gaussian(img, [1.0, 1.0], Border::Zero);
    for (s, b) in smoothed.iter_mut().zip(&bleed) {
        *s /= b + f64::EPSILON;
    }
    let jsobel = sobel(&smoothed, 1);
    let isobel = sobel(&smoothed, 0);
    let mut mag = [0.0; PIXELS];
    for i in 0..PIXELS {
        mag[i] = (isobel[i] * isobel[i] + jsobel[i] * jsobel[i]).sqrt();
    }
    // The low threshold reaches the suppression as a C float.
    let low = nonmax_suppression(&isobel, &jsobel, &mag, 0.1f32 as f64);
    hysteresis(&low, 0.2)
}

/// skimage's `_nonmaximum_suppression_bilinear`: the magnitude where it is
/// at least `low` and no smaller than both neighbours along the gradient
/// (interpolated between the two nearest), else 0.
fn nonmax_suppression(isobel: &Img, jsobel: &Img, mag: &Img, low: f64) -> Img {
    let mut out = [0.0; PIXELS];
    let at = |x: usize, y: usize| mag[x * SIDE + y];
    for x in 1..SIDE - 1 {
        for y in 1..SIDE - 1 {
            let m = at(x, y);
            if m < low {
                continue;
            }
            let (is, js) = (isobel[x * SIDE + y], jsobel[x * SIDE + y]);
            let (down, left) = (is <= 0.0, js <= 0.0);
            let (ai, aj) = (is.abs(), js.abs());
            let keep = |w: f64, p1: f64, p2: f64, m1: f64, m2: f64| {
                p2 * w + p1 * (1.0 - w) <= m && m2 * w + m1 * (1.0 - w) <= m
            };
            let ok = if down == left {
                if ai > aj {
                    keep(aj / ai, at(x + 1, y), at(x + 1, y + 1), at(x - 1, y), at(x - 1, y - 1))
                } else {
                    keep(ai / aj, at(x, y + 1), at(x + 1, y + 1), at(x, y - 1), at(x - 1, y - 1))
                }
            } else if ai < aj {
                keep(ai / aj, at(x, y + 1), at(x - 1, y + 1), at(x, y - 1), at(x + 1, y - 1))
            } else {
                keep(aj / ai, at(x - 1, y), at(x - 1, y + 1), at(x + 1, y), at(x + 1, y - 1))
            };
            if ok {
                out[x * SIDE + y] = m;
            }
        }
    }
    out
}

/// Keeps the 8-connected components of the nonzero pixels that hold a
/// pixel at or above `high`.
fn hysteresis(low: &Img, high: f64) -> [u8; PIXELS] {
    let mut out = [0u8; PIXELS];
    let mut seen = [false; PIXELS];
    for start in 0..PIXELS {
        if low[start] <= 0.0 || seen[start] {
            continue;
        }
        let (mut comp, mut stack, mut strong) = (Vec::new(), vec![start], false);
        seen[start] = true;
        while let Some(p) = stack.pop() {
            comp.push(p);
            strong |= low[p] >= high;
            let (r, c) = ((p / SIDE) as isize, (p % SIDE) as isize);
            for dr in -1..=1 {
                for dc in -1..=1 {
                    let (nr, nc) = (r + dr, c + dc);
                    if nr < 0 || nc < 0 || nr >= SIDE as isize || nc >= SIDE as isize {
                        continue;
                    }
                    let q = nr as usize * SIDE + nc as usize;
                    if low[q] > 0.0 && !seen[q] {
                        seen[q] = true;
                        stack.push(q);
                    }
                }
            }
        }
        if strong {
            comp.into_iter().for_each(|p| out[p] = 255);
        }
    }
    out
}

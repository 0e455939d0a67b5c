//! Lines drawn over the digit: dotted_line and zigzag. Pixel-exact given
//! the endpoints, which are drawn per image as the reference draws them.

use rand::Rng as _;

use super::{save_unit, Img, PIXELS, SIDE};
use crate::rng;

/// The reference's `line_from_points(c0, r0, c1, r1)`: intensity
/// `log(1 - d/2.3) + 1` (clipped to [0, 1]) at vertical distance d from the
/// line through the two points, zero left of column ⌊c0⌋ and from column
/// ⌈c1⌉ on, and nothing at all for a vertical line.
pub(crate) fn line_from_points(c0: f64, r0: f64, c1: f64, r1: f64) -> Img {
    let mut out = [0.0; PIXELS];
    if c1 == c0 {
        return out;
    }
    let m = (r1 - r0) / (c1 - c0);
    let (l, r) = (c0.floor(), c1.ceil());
    for row in 0..SIDE {
        for col in 0..SIDE {
            let cf = col as f64;
            if cf < l || cf >= r {
                continue;
            }
            let dist = (row as f64 - (m * (cf - c0) + r0)).abs().clamp(0.0, 2.3 - 1e-10);
            out[row * SIDE + col] = ((1.0 - dist / 2.3).ln() + 1.0).clamp(0.0, 1.0);
        }
    }
    out
}

/// A line from (0, r0) to (27, r1), r0 and r1 drawn from 0..=26, with
/// every other pair of columns removed (columns 0–1, 4–5, … off).
pub(super) fn dotted_line(img: &Img, r: &mut rng::Rng) -> [u8; PIXELS] {
    let r0 = r.gen_range(0..27);
    let r1 = r.gen_range(0..27);
    dotted_line_at(img, r0, r1)
}

pub(crate) fn dotted_line_at(img: &Img, r0: i32, r1: i32) -> [u8; PIXELS] {
    let line = line_from_points(0.0, r0 as f64, 27.0, r1 as f64);
    let mut out = *img;
    for (i, v) in out.iter_mut().enumerate() {
        if (i % SIDE) % 4 >= 2 {
            *v += line[i];
        }
    }
    save_unit(&out)
}

/// A zigzag (teeth 2 long and 2 high) from column 2 to 25, starting at row
/// r0 ∈ 0..=26 and sloping to row r0 + δ, δ ∈ −5..=4.
pub(super) fn zigzag(img: &Img, r: &mut rng::Rng) -> [u8; PIXELS] {
    let r0 = r.gen_range(0..27);
    let delta = r.gen_range(-5..5);
    zigzag_at(img, r0, delta)
}

pub(crate) fn zigzag_at(img: &Img, r0: i32, delta: i32) -> [u8; PIXELS] {
    let (a, b) = (2.0f64, 2.0f64);
    let (c0, c1) = (2.0f64, 25.0f64);
    let theta = (delta as f64 / (c1 - c0)).atan();
    let d = (c1 - c0) / theta.cos();
    let mut ends = vec![(0.0f64, 0.0f64)];
    let mut r_i = 0.0;
    for i in 0..(((d - a) / (2.0 * a)).floor() as usize + 1) {
        r_i = if i % 2 == 0 { b } else { -b };
        ends.push(((2 * i + 1) as f64 * a, r_i));
    }
    let max_c = (2.0 * a) * (d / (2.0 * a)).floor();
    if d != max_c {
        ends.push((d, r_i / (2.0 * (d - max_c))));
    }
    // Rotate by theta, then move the start to (c0, r0).
    let (cos, sin) = (theta.cos(), theta.sin());
    let pts: Vec<(f64, f64)> =
        ends.iter().map(|&(c, rr)| (cos * c + -sin * rr + c0, sin * c + cos * rr + r0 as f64)).collect();
    let mut x = *img;
    for w in pts.windows(2) {
        let line = line_from_points(w[0].0, w[0].1, w[1].0, w[1].1);
        for (v, l) in x.iter_mut().zip(line) {
            *v = (*v + l).clamp(0.0, 1.0);
        }
    }
    save_unit(&x)
}

//! Filters and the random corruptions built on them: glass blur, motion
//! blur, spatter, fog. The Gaussian is SciPy's `gaussian_filter1d` (what
//! `skimage.filters.gaussian` calls), summed in SciPy's order.

use rand::Rng as _;
use rand_distr::{Distribution, Normal};

use super::{save_f32, save_f64, save_unit, Img, PIXELS, SIDE};
use crate::rng;

/// How a filter reads past the border (SciPy's `mode`).
#[derive(Clone, Copy)]
pub(super) enum Border {
    /// 'nearest': the edge pixel repeated.
    Nearest,
    /// 'constant' with cval 0.
    Zero,
    /// 'reflect': d c b a | a b c d.
    Reflect,
}

fn at(line: &[f64], i: isize, border: Border) -> f64 {
    let n = line.len() as isize;
    if (0..n).contains(&i) {
        return line[i as usize];
    }
    match border {
        Border::Zero => 0.0,
        Border::Nearest => line[i.clamp(0, n - 1) as usize],
        Border::Reflect => {
            let period = 2 * n;
            let m = i.rem_euclid(period);
            line[if m < n { m } else { period - 1 - m } as usize]
        }
    }
}

/// numpy's pairwise sum for fewer than 128 terms.
fn np_sum(a: &[f64]) -> f64 {
    if a.len() < 8 {
        return a.iter().fold(0.0, |s, v| s + v);
    }
    let mut r = [0.0; 8];
    r.copy_from_slice(&a[..8]);
    let whole = a.len() - a.len() % 8;
    for block in a[8..whole].chunks(8) {
        for (rj, v) in r.iter_mut().zip(block) {
            *rj += v;
        }
    }
    let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for v in &a[whole..] {
        s += v;
    }
    s
}

/// SciPy's `_gaussian_kernel1d(sigma, 0, int(4 sigma + 0.5))`: weights w[0..=radius].
pub(super) fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let full: Vec<f64> = (-radius..=radius).map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp()).collect();
    let total = np_sum(&full);
    full[radius as usize..].iter().map(|v| v / total).collect()
}

/// SciPy's `correlate1d` with a symmetric kernel `w` (w[0] the centre) along
/// `axis` (0: down the rows, 1: along them), in its summation order.
pub(super) fn correlate_sym(img: &Img, w: &[f64], axis: usize, border: Border) -> Img {
    let mut out = [0.0; PIXELS];
    let mut line = [0.0; SIDE];
    for k in 0..SIDE {
        for (i, v) in line.iter_mut().enumerate() {
            *v = img[if axis == 0 { i * SIDE + k } else { k * SIDE + i }];
        }
        for i in 0..SIDE {
            let mut acc = line[i] * w[0];
            for j in (1..w.len()).rev() {
                let (lo, hi) = (i as isize - j as isize, (i + j) as isize);
                acc += (at(&line, lo, border) + at(&line, hi, border)) * w[j];
            }
            out[if axis == 0 { i * SIDE + k } else { k * SIDE + i }] = acc;
        }
    }
    out
}

/// `skimage.filters.gaussian(img, sigma)` with per-axis sigmas (0 skips the axis).
pub(super) fn gaussian(img: &Img, sigma: [f64; 2], border: Border) -> Img {
    let mut out = *img;
    for (axis, &s) in sigma.iter().enumerate() {
        if s > 1e-15 {
            out = correlate_sym(&out, &gaussian_kernel(s), axis, border);
        }
    }
    out
}

/// (sigma, max_delta, iterations) per severity.
const GLASS: [(f64, usize, usize); 5] = [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)];

/// Blur, shuffle pixels locally, blur again. The reference calls
/// `gaussian(…, multichannel=True)` on a 2-D image, which scikit-image reads
/// as rows × (columns as channels): both blurs run down the columns only.
pub(super) fn glass_blur(img: &Img, s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    let (sigma, d, iterations) = GLASS[s - 1];
    let blurred = gaussian(img, [sigma, 0.0], Border::Nearest);
    // np.uint8(x * 255): truncation.
    let mut x: Vec<u8> = blurred.iter().map(|v| (v * 255.0) as u8).collect();
    for _ in 0..iterations {
        for h in (d + 1..=SIDE - d).rev() {
            for w in (d + 1..=SIDE - d).rev() {
                if r.gen::<bool>() {
                    // np.random.randint(-d, d, size=2): dx then dy, high exclusive.
                    let dx = r.gen_range(-(d as isize)..d as isize);
                    let dy = r.gen_range(-(d as isize)..d as isize);
                    let (h2, w2) = ((h as isize + dy) as usize, (w as isize + dx) as usize);
                    x.swap(h * SIDE + w, h2 * SIDE + w2);
                }
            }
        }
    }
    let mut unit = [0.0; PIXELS];
    for (u, &v) in unit.iter_mut().zip(&x) {
        *u = v as f64 / 255.0;
    }
    save_unit(&gaussian(&unit, [sigma, 0.0], Border::Nearest))
}

/// (radius, sigma) per severity.
const MOTION: [(f64, f64); 5] = [(10.0, 3.0), (15.0, 5.0), (15.0, 8.0), (15.0, 12.0), (20.0, 15.0)];

/// ImageMagick 6's `MotionBlurImage` (Q16) at an angle drawn from U(−45°, 45°).
pub(super) fn motion_blur(x: &[u8], s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    let (radius, sigma) = MOTION[s - 1];
    let angle = r.gen_range(-45.0..45.0);
    motion_blur_at(x, radius, sigma, angle)
}

/// The blur itself: a one-sided Gaussian of width 2⌈radius⌉ + 1 along the
/// angle, sample i at the pixel offset (⌈i cos θ − ½⌉, ⌈i sin θ − ½⌉),
/// edge pixels repeated past the border, 8-bit values scaled to 16 bits and
/// back as ImageMagick's Q16 build does.
pub(crate) fn motion_blur_at(x: &[u8], radius: f64, sigma: f64, angle: f64) -> [u8; PIXELS] {
    let width = (2.0 * radius.ceil() + 1.0) as usize;
    let mut kernel: Vec<f64> = (0..width)
        .map(|i| {
            let i = i as f64;
            (-(i * i) / (2.0 * sigma * sigma)).exp() / ((2.0 * std::f64::consts::PI).sqrt() * sigma)
        })
        .collect();
    let normalize: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= normalize);
    let theta = angle.to_radians();
    let (px, py) = (width as f64 * theta.sin(), width as f64 * theta.cos());
    let hyp = px.hypot(py);
    let offsets: Vec<(isize, isize)> = (0..width)
        .map(|i| {
            let i = i as f64;
            ((i * py / hyp - 0.5).ceil() as isize, (i * px / hyp - 0.5).ceil() as isize)
        })
        .collect();
    let last = SIDE as isize - 1;
    let mut out = [0u8; PIXELS];
    for y in 0..SIDE as isize {
        for xx in 0..SIDE as isize {
            let mut acc = 0.0;
            for (k, &(ox, oy)) in kernel.iter().zip(&offsets) {
                let (sx, sy) = ((xx + ox).clamp(0, last), (y + oy).clamp(0, last));
                acc += k * (257.0 * x[(sy * SIDE as isize + sx) as usize] as f64);
            }
            let q = if acc <= 0.0 {
                0
            } else if acc >= 65535.0 {
                65535
            } else {
                (acc + 0.5) as u32
            };
            // ScaleQuantumToChar (Q16).
            out[(y * SIDE as isize + xx) as usize] = (((q + 128) - ((q + 128) >> 8)) >> 8) as u8;
        }
    }
    out
}

/// (loc, scale, sigma, threshold, mask sigma) per severity; all are mud.
const SPATTER: [(f64, f64, f64, f64, f64); 5] = [
    (0.65, 0.3, 4.0, 0.69, 0.6),
    (0.65, 0.3, 3.0, 0.68, 0.6),
    (0.65, 0.3, 2.0, 0.68, 0.5),
    (0.65, 0.3, 1.0, 0.65, 1.5),
    (0.67, 0.4, 1.0, 0.65, 1.5),
];

/// Blurred Gaussian noise thresholded into blobs, whose soft mask paints
/// mud (grey 63) over the image where it is at least 0.8.
pub(super) fn spatter(img: &Img, s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    let (loc, scale, sigma, threshold, mask_sigma) = SPATTER[s - 1];
    let normal = Normal::new(loc, scale).expect("positive scale");
    let mut liquid = [0.0; PIXELS];
    liquid.iter_mut().for_each(|v| *v = normal.sample(r));
    let liquid = gaussian(&liquid, [sigma, sigma], Border::Nearest);
    let mut m = [0.0; PIXELS];
    for (mv, &l) in m.iter_mut().zip(&liquid) {
        // liquid[liquid < t] = 0 and then liquid > t: one strict test.
        *mv = if l > threshold { 1.0 } else { 0.0 };
    }
    let m = gaussian(&m, [mask_sigma, mask_sigma], Border::Nearest);
    let mut out = [0u8; PIXELS];
    for ((o, &x), &mv) in out.iter_mut().zip(img).zip(&m) {
        let mv = if mv < 0.8 { 0.0 } else { mv };
        // x is float32 in the reference (`x *= 1 - m` stays float32); the sum is float64.
        let x = ((x as f32) as f64 * (1.0 - mv)) as f32 as f64;
        let color = (63.0f64 / 255.0) as f32 as f64 * mv;
        *o = save_f64((x + color).clamp(0.0, 1.0) * 255.0);
    }
    out
}

/// (strength, wibble decay) per severity.
const FOG: [(f64, f64); 5] = [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)];

/// The image plus a plasma fractal, rescaled to keep the image's maximum.
pub(super) fn fog(img: &Img, s: usize, r: &mut rng::Rng) -> [u8; PIXELS] {
    let (c, decay) = FOG[s - 1];
    let plasma = plasma_fractal(256, decay, r);
    let max_val = img.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut out = [0u8; PIXELS];
    for (i, o) in out.iter_mut().enumerate() {
        let v = img[i] + c * plasma[(i / SIDE) * 256 + i % SIDE];
        *o = save_f32((v * max_val / (max_val + c)).clamp(0.0, 1.0) * 255.0);
    }
    out
}

/// The reference's diamond-square heightmap (`plasma_fractal`), on a torus,
/// normalised to [0, 1]; numpy's `roll`s become wrapped indices, and each
/// step draws its uniforms as one row-major array, as numpy does.
pub(crate) fn plasma_fractal(size: usize, decay: f64, r: &mut rng::Rng) -> Vec<f64> {
    // As the reference requires; it also makes every wrap a mask, not a
    // division (six per cell: most of the fog's time).
    assert!(size.is_power_of_two(), "plasma_fractal: map size {size} is not a power of two");
    let mut m = vec![0.0; size * size];
    let mut step = size;
    let mut wibble = 100.0f64;
    while step >= 2 {
        let (n, half) = (size / step, step / 2);
        let wrap = n - 1;
        let at = |i: usize, j: usize| ((i & wrap) * step) * size + (j & wrap) * step;
        let mut noise = |sum: f64| sum / 4.0 + wibble * r.gen_range(-wibble..wibble);
        // Squares: the centre of each square from its four corners.
        for i in 0..n {
            for j in 0..n {
                let s = (m[at(i, j)] + m[at(i + 1, j)]) + (m[at(i, j + 1)] + m[at(i + 1, j + 1)]);
                m[at(i, j) + half * size + half] = noise(s);
            }
        }
        // Diamonds: the top edge midpoints, then the left ones.
        let centre = |m: &[f64], i: usize, j: usize| m[at(i, j) + half * size + half];
        for i in 0..n {
            for j in 0..n {
                let s = (centre(&m, i, j) + centre(&m, i + n - 1, j)) + (m[at(i, j)] + m[at(i, j + 1)]);
                m[at(i, j) + half] = noise(s);
            }
        }
        for i in 0..n {
            for j in 0..n {
                let s = (centre(&m, i, j) + centre(&m, i, j + n - 1)) + (m[at(i, j)] + m[at(i + 1, j)]);
                m[at(i, j) + half * size] = noise(s);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let lo = m.iter().copied().fold(f64::INFINITY, f64::min);
    m.iter_mut().for_each(|v| *v -= lo);
    let hi = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m.iter().map(|v| v / hi).collect()
}

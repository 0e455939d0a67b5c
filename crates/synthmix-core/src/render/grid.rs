//! Labelled sample grids: one row per class, `k` images per row, the class
//! name at the left of each row.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::text;
use crate::data::ImageSet;
use crate::error::{Error, Result};

/// Options for [`render`].
#[derive(Debug, Clone)]
pub struct GridOptions {
    /// Images per class (row).
    pub per_class: usize,
    /// Integer upscaling of each image, so small digits stay visible.
    pub scale: u32,
    /// Title drawn above the grid.
    pub title: Option<String>,
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions { per_class: 10, scale: 2, title: None }
    }
}

/// Renders the first `per_class` images of every class. A class with fewer
/// images leaves its remaining cells empty.
pub fn render(set: &ImageSet, opts: &GridOptions) -> Result<RgbImage> {
    if set.shape.c != 1 && set.shape.c != 3 {
        return Err(Error::Invalid(format!("cannot draw images with {} channels (need 1 or 3)", set.shape.c)));
    }
    let (h, w) = (set.shape.h as u32 * opts.scale, set.shape.w as u32 * opts.scale);
    let gap = 2u32;
    let font = (h as f32 * 0.5).clamp(11.0, 18.0);
    let names = set.class_names();
    let label_w = names.iter().map(|n| text::width(n, font)).max().unwrap_or(0) + 8;
    let title_h = if opts.title.is_some() { font as u32 + 8 } else { 0 };
    let k = opts.per_class as u32;
    let rows = set.num_classes as u32;
    let width = label_w + k * (w + gap) + gap;
    let height = title_h + rows * (h + gap) + gap;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    if let Some(t) = &opts.title {
        text::draw(&mut img, t, 4, 3, font, [0, 0, 0]);
    }
    let by_class = set.indices_by_class();
    let plane = set.shape.h * set.shape.w;
    for (c, idx) in by_class.iter().enumerate() {
        let y0 = title_h + gap + c as u32 * (h + gap);
        text::draw(&mut img, &names[c], 4, (y0 + h / 2) as i32 - font as i32 / 2, font, [0, 0, 0]);
        for (j, &i) in idx.iter().take(opts.per_class).enumerate() {
            let x0 = label_w + gap + j as u32 * (w + gap);
            let px = set.image(i);
            for y in 0..h {
                for x in 0..w {
                    let at = (y / opts.scale) as usize * set.shape.w + (x / opts.scale) as usize;
                    let rgb = if set.shape.c == 1 { [px[at]; 3] } else { [px[at], px[plane + at], px[2 * plane + at]] };
                    img.put_pixel(x0 + x, y0 + y, Rgb(rgb));
                }
            }
        }
    }
    Ok(img)
}

/// Encodes an image as PNG bytes.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| Error::Invalid(format!("PNG encoding: {e}")))?;
    Ok(out.into_inner())
}

/// Renders and writes a grid PNG atomically.
pub fn write(set: &ImageSet, opts: &GridOptions, path: &Path) -> Result<()> {
    crate::artifact::write_atomic(path, &png_bytes(&render(set, opts)?)?)
}

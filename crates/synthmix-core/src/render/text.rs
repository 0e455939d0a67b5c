//! Text on images, with DejaVu Sans Mono compiled in (no system fonts needed,
//! so pictures look the same on every machine).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::RgbImage;

static FONT_BYTES: &[u8] = include_bytes!("../../../../assets/DejaVuSansMono.ttf");

pub(crate) fn font() -> FontRef<'static> {
    FontRef::try_from_slice(FONT_BYTES).expect("bundled font is valid")
}

/// Draws `text` with its top-left corner at (x, y), `size` pixels high.
pub(crate) fn draw(img: &mut RgbImage, text: &str, x: i32, y: i32, size: f32, color: [u8; 3]) {
    let font = font();
    let scaled = font.as_scaled(PxScale::from(size));
    let mut caret = x as f32;
    let baseline = y as f32 + scaled.ascent();
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        let glyph = id.with_scale_and_position(PxScale::from(size), ab_glyph::point(caret, baseline));
        caret += scaled.h_advance(id);
        if let Some(outlined) = font.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                if px < 0 || py < 0 || px >= img.width() as i32 || py >= img.height() as i32 {
                    return;
                }
                let p = img.get_pixel_mut(px as u32, py as u32);
                for (c, &want) in p.0.iter_mut().zip(&color) {
                    *c = (*c as f32 * (1.0 - cov) + want as f32 * cov).round() as u8;
                }
            });
        }
    }
}

/// Width in pixels of `text` at `size`.
pub(crate) fn width(text: &str, size: f32) -> u32 {
    let font = font();
    let scaled = font.as_scaled(PxScale::from(size));
    text.chars().map(|c| scaled.h_advance(font.glyph_id(c))).sum::<f32>().ceil() as u32
}

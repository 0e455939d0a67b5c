//! `data import`'s decoding: each listed file to CHW bytes in the set's
//! mode and size, its header checked before any pixel is decoded; a bad file
//! is collected with its reason, never fatal here.

use std::path::{Path, PathBuf};

use super::{BadFile, Fit, ImportParams};
use crate::error::Result;

/// The set's mode and size: the flags', else the first decodable image's.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    pub(super) channels: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    /// Convert and resize everything (the flags were given) or refuse what differs.
    convert: bool,
    resize: bool,
}

/// Refuses an image from its header, before any pixel is decoded: too many
/// pixels to decode, or (without `--size`, `resize` false) a side shorter
/// than a set's may be or not the set's size.
fn check_header(w: u64, h: u64, t: Option<&Target>, resize: bool) -> std::result::Result<(), String> {
    let pixels = w.checked_mul(h).unwrap_or(u64::MAX);
    if pixels > crate::limits::MAX_SOURCE_PIXELS || w == 0 || h == 0 {
        return Err(format!(
            "{h}x{w} pixels: not decoded (an image must have 1 to {} pixels)",
            crate::limits::MAX_SOURCE_PIXELS
        ));
    }
    let min = super::MIN_SIDE as u64;
    if !resize && (w < min || h < min) {
        return Err(format!("{h}x{w} pixels: a side below {min}, too small for a set (pass --size HxW to fit it)"));
    }
    match t {
        Some(t) if !t.resize && (u64::try_from(t.w), u64::try_from(t.h)) != (Ok(w), Ok(h)) => {
            Err(format!("{h}x{w} pixels, the set is {}x{} (pass --size HxW to fit every image)", t.h, t.w))
        }
        _ => Ok(()),
    }
}

/// Decodes one image file, its header checked first ([`check_header`]). A
/// damaged or truncated file is an error, never an image partly filled in.
fn open(path: &Path, t: Option<&Target>, resize: bool) -> std::result::Result<image::DynamicImage, String> {
    let file = crate::artifact::input::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = image::ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    // As `ImageReader::open`: the extension's format where the bytes tell none.
    if let (None, Ok(f)) = (reader.format(), image::ImageFormat::from_path(path)) {
        reader.set_format(f);
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        return open_jpeg(path, t, resize);
    }
    let decoder = reader.into_decoder().map_err(|e| format!("not a decodable image: {e}"))?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    check_header(u64::from(w), u64::from(h), t, resize)?;
    image::DynamicImage::from_decoder(decoder).map_err(|e| format!("not a decodable image: {e}"))
}

/// A JPEG through the strict decoder ([`crate::data::jpeg::strict_jpeg`]): the
/// image crate's lenient one decodes a truncated file partly grey.
fn open_jpeg(path: &Path, t: Option<&Target>, resize: bool) -> std::result::Result<image::DynamicImage, String> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    let bytes = crate::artifact::input::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let bad = |e: String| format!("not a decodable image: {e}");
    let jpeg = crate::data::jpeg::strict_jpeg(&bytes).map_err(bad)?;
    let (w, h) =
        (u32::try_from(jpeg.width).map_err(|_| "too wide")?, u32::try_from(jpeg.height).map_err(|_| "too high")?);
    check_header(u64::from(w), u64::from(h), t, resize)?;
    // The colour spaces the image crate keeps; any other becomes RGB, as there.
    let space = match jpeg.input_colorspace() {
        Some(s @ (ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA)) => s,
        _ => ColorSpace::RGB,
    };
    let px = jpeg.decode(space).map_err(bad)?;
    use image::DynamicImage as D;
    let img = match space {
        ColorSpace::Luma => image::ImageBuffer::from_raw(w, h, px).map(D::ImageLuma8),
        ColorSpace::LumaA => image::ImageBuffer::from_raw(w, h, px).map(D::ImageLumaA8),
        ColorSpace::RGBA => image::ImageBuffer::from_raw(w, h, px).map(D::ImageRgba8),
        _ => image::ImageBuffer::from_raw(w, h, px).map(D::ImageRgb8),
    };
    img.ok_or_else(|| "not a decodable image: fewer pixels than its header says".into())
}

pub(super) fn is_grey(img: &image::DynamicImage) -> bool {
    !img.color().has_color()
}

/// One image as CHW bytes in the target's mode and size.
fn convert(img: image::DynamicImage, t: &Target, fit: Fit) -> std::result::Result<Vec<u8>, String> {
    let grey = is_grey(&img);
    if !t.convert && (grey != (t.channels == 1)) {
        return Err(format!(
            "{} image in a {} set (pass --channels {} to convert every image)",
            if grey { "greyscale" } else { "colour" },
            if t.channels == 1 { "greyscale" } else { "colour" },
            t.channels
        ));
    }
    // The header check ([`check_header`]) refused any other size without --size.
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let img = match fit {
        _ if (w0, h0) == (t.w, t.h) => img,
        Fit::Resize => img.resize_exact(t.w as u32, t.h as u32, image::imageops::FilterType::Triangle),
        Fit::Crop => {
            let mut canvas = image::RgbImage::new(t.w as u32, t.h as u32);
            let (x, y) = ((t.w as i64 - w0 as i64) / 2, (t.h as i64 - h0 as i64) / 2);
            image::imageops::overlay(&mut canvas, &img.to_rgb8(), x, y);
            image::DynamicImage::ImageRgb8(canvas)
        }
    };
    Ok(if t.channels == 1 {
        img.to_luma8().into_raw()
    } else {
        // HWC → CHW.
        let rgb = img.to_rgb8().into_raw();
        let n = t.h * t.w;
        (0..3).flat_map(|c| (0..n).map(move |i| (c, i))).map(|(c, i)| rgb[i * 3 + c]).collect()
    })
}

/// The images as read: pixels, each image's index into the listed class
/// names (in a type that holds any count listed), the set's mode and size,
/// and the bad files met on the way.
pub(super) struct Decoded {
    pub(super) images: Vec<u8>,
    pub(super) classes: Vec<usize>,
    pub(super) names: Vec<String>,
    pub(super) target: Option<Target>,
    pub(super) bad: Vec<BadFile>,
}

/// Decodes every listed file; bad files are collected, not fatal here.
pub(super) fn decode_all(
    params: &ImportParams,
    names: Vec<String>,
    items: &[(PathBuf, usize)],
    bad: Vec<BadFile>,
) -> Result<Decoded> {
    let mut d = Decoded { images: Vec::new(), classes: Vec::new(), names, target: None, bad };
    for (path, c) in items {
        let img = match open(path, d.target.as_ref(), params.size.is_some()) {
            Ok(i) => i,
            Err(why) => {
                d.bad.push(BadFile { path: path.clone(), why });
                continue;
            }
        };
        let t = *d.target.get_or_insert_with(|| Target {
            channels: params.channels.unwrap_or(if is_grey(&img) { 1 } else { 3 }),
            h: params.size.map_or(img.height() as usize, |s| s.h),
            w: params.size.map_or(img.width() as usize, |s| s.w),
            convert: params.channels.is_some(),
            resize: params.size.is_some(),
        });
        if d.images.is_empty() {
            crate::limits::images_bytes(items.len(), t.channels * t.h * t.w, "data import")?;
        }
        match convert(img, &t, params.fit) {
            Ok(px) => {
                d.images.extend(px);
                d.classes.push(*c);
            }
            Err(why) => d.bad.push(BadFile { path: path.clone(), why }),
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_past_the_pixel_cap_or_of_another_size_are_refused() {
        assert!(check_header(20_000, 20_000, None, true).unwrap_err().contains("not decoded"));
        assert!(check_header(u64::from(u32::MAX), u64::from(u32::MAX), None, true).is_err());
        assert!(check_header(0, 28, None, true).is_err());
        assert_eq!(check_header(8192, 8192, None, false), Ok(()));
        let t = Target { channels: 1, h: 28, w: 28, convert: false, resize: false };
        assert_eq!(check_header(28, 28, Some(&t), false), Ok(()));
        assert!(check_header(20, 28, Some(&t), false).unwrap_err().contains("28x20 pixels, the set is 28x28"));
        assert_eq!(check_header(20, 28, Some(&Target { resize: true, ..t }), true), Ok(()));
        // A side below 4 as the set's own size: refused, unless --size fits it.
        for (w, h) in [(28, 1), (1, 1), (3, 28)] {
            let e = check_header(w, h, None, false).unwrap_err();
            assert!(e.contains("a side below 4") && e.contains("--size"), "{e}");
            assert_eq!(check_header(w, h, None, true), Ok(()));
        }
    }
}

//! The one strict JPEG set-up, for the CIFAR-10 JPEG copy and `data import`:
//! zune-jpeg (the image crate's own JPEG decoder) in strict mode. The image
//! crate runs it lenient, which decodes a truncated file with the missing
//! part grey and only logs a warning; strict, a damaged file is an error.

use zune_jpeg::errors::DecodeErrors;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// A strict decoder whose header has been read.
pub struct StrictJpeg<'a> {
    decoder: JpegDecoder<ZCursor<&'a [u8]>>,
    /// Width and height from the header, for the caller to check before
    /// any pixel is decoded.
    pub width: usize,
    pub height: usize,
}

/// Reads `bytes`' JPEG header in strict mode. No size cap here: each caller
/// checks [`StrictJpeg::width`] and `height` against its own before [`StrictJpeg::decode`].
pub fn strict_jpeg(bytes: &[u8]) -> Result<StrictJpeg<'_>, String> {
    let options = DecoderOptions::default().set_strict_mode(true).set_max_width(usize::MAX).set_max_height(usize::MAX);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(undecodable)?;
    let (width, height) = decoder.dimensions().ok_or("undecodable JPEG: no header")?;
    Ok(StrictJpeg { decoder, width, height })
}

impl StrictJpeg<'_> {
    /// The colour space the file stores, if zune-jpeg names it.
    pub fn input_colorspace(&self) -> Option<ColorSpace> {
        self.decoder.input_colorspace()
    }

    /// The pixels, interleaved (HWC), in colour space `out`.
    pub fn decode(mut self, out: ColorSpace) -> Result<Vec<u8>, String> {
        self.decoder.set_options(self.decoder.options().jpeg_set_out_colorspace(out));
        self.decoder.decode().map_err(undecodable)
    }
}

fn undecodable(e: DecodeErrors) -> String {
    format!("undecodable JPEG (damaged or truncated): {e}")
}

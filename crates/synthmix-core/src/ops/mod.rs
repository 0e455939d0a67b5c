//! Hand-written CPU kernels where candle's own are slow or wrong, each as a
//! candle custom op with a tested backward, falling back to candle's ops on
//! other devices.

pub mod act;
pub mod conv;
pub mod dropout;
pub mod group_norm;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod resample;
pub(crate) mod vmath;
mod winograd;

pub use act::{bias_act, Act};

use candle_core::{CpuStorage, Layout, Result};

/// The F32 values of a custom op's contiguous CPU input; `what` names the op
/// and the input for the error (our ops make their inputs contiguous first).
pub(crate) fn cpu_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what} must be contiguous"),
    }
}
/// The `[N, C, H, W]` sizes of a custom op's input; `what` names the op for
/// the error.
pub(crate) fn dims4(layout: &Layout, what: &str) -> Result<(usize, usize, usize, usize)> {
    match layout.shape().dims() {
        &[n, c, h, w] => Ok((n, c, h, w)),
        d => candle_core::bail!("{what} expects [N, C, H, W], got {d:?}"),
    }
}

pub use conv::{conv2d_bias_act, ConvAlgorithm};
pub use dropout::dropout;
pub use group_norm::group_norm;
pub use linear::{linear_act, linear_act_cat};
pub use norm::pixel_norm;
pub use pool::max_pool2x2;
pub use resample::{avg_pool2x2, upsample_nearest2x};

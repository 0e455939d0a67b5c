//! Hand-written CPU kernels where candle's own are slow or wrong, each as a
//! candle custom op with a tested backward, falling back to candle's ops on
//! other devices.

pub mod act;
pub mod conv;
pub mod dropout;
pub mod linear;
pub mod norm;
pub mod pool;

pub use act::{bias_act, Act};
pub use conv::conv2d_bias_act;
pub use dropout::dropout;
pub use linear::{linear_act, linear_act_cat};
pub use norm::pixel_norm;
pub use pool::max_pool2x2;

//! FLOP counts of the layers, as `just bench` and its PyTorch reference
//! count them: 2 per multiply-add of convolutions and dense layers only
//! (biases, norms, activations, pooling and embeddings left out). One
//! place, so every model's `forward_flops` counts alike.

/// A `k × k` convolution from `cin` to `cout` channels with an `oh × ow` output.
pub fn conv(cin: usize, cout: usize, k: usize, (oh, ow): (usize, usize)) -> u64 {
    [cin, cout, k, k, oh, ow].iter().fold(2u64, |f, &x| f.saturating_mul(x as u64))
}

/// A dense layer from `inputs` to `outputs` features, per example.
pub fn dense(inputs: usize, outputs: usize) -> u64 {
    2u64.saturating_mul(inputs as u64).saturating_mul(outputs as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_conv_and_one_dense_layer_counted_by_hand() {
        // Simple CNN conv1: 26·26 outputs × 32 channels, each 1·3·3
        // multiply-adds: 676 · 32 · 9 = 194 688 MACs = 389 376 FLOPs.
        assert_eq!(conv(1, 32, 3, (26, 26)), 389_376);
        // Its fc1: 1600 inputs × 128 outputs = 204 800 MACs.
        assert_eq!(dense(1600, 128), 409_600);
        // A 1×1 conv is a dense layer per pixel.
        assert_eq!(conv(64, 32, 1, (7, 5)), 35 * dense(64, 32));
    }

    #[test]
    fn the_gans_layer_by_layer_by_hand() {
        use crate::data::ImageShape;
        use crate::model::gan::{GanArch, GanConfig};
        let mlp = GanConfig::new(GanArch::Mlp, ImageShape { c: 1, h: 28, w: 28 }, 10);
        // G 110→256→512→1024→784: 2 × 1 486 336 MACs;
        // D 794→1024→512→256→1: 2 × 1 468 672.
        assert_eq!(mlp.forward_flops(), (2_972_672, 2_937_344));
        let dc = GanConfig::new(GanArch::Dcgan, ImageShape { c: 3, h: 32, w: 32 }, 10);
        // G: fc 110→128·8·8 1 802 240; 128→64 at 16² and 64→32 at 32²
        // 37 748 736 each; 32→3 at 32² 1 769 472.
        // D: 3→32 at 32² 1 769 472; 32→64 at 16², 64→128 at 8² 9 437 184
        // each; fc 128→1 256.
        assert_eq!(dc.forward_flops(), (79_069_184, 20_644_096));
    }
}

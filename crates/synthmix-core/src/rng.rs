//! Seeded randomness. candle's CPU device cannot be seeded, so every random
//! draw in synthmix (initial weights, dropout masks, shuffles, GAN noise, mix
//! sampling, corruptions) comes from a ChaCha generator derived here from the
//! stage's `--seed` and a purpose string. Separate purposes get independent
//! streams, so adding a draw for one purpose never shifts another.

use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng as Rng;

/// A generator for `purpose` under `seed` (e.g. `stream(0, "shuffle")`).
pub fn stream(seed: u64, purpose: &str) -> Rng {
    let mut h = blake3::Hasher::new();
    h.update(b"synthmix.rng.v1");
    h.update(&seed.to_le_bytes());
    h.update(purpose.as_bytes());
    Rng::from_seed(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    #[test]
    fn streams_are_deterministic_and_independent() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = super::stream(7, "x");
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = super::stream(7, "x");
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = super::stream(7, "y");
                move |_| r.next_u64()
            })
            .collect();
        let d: Vec<u64> = (0..4)
            .map({
                let mut r = super::stream(8, "x");
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}

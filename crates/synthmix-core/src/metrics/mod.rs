//! Classification metrics (accuracy, per-class accuracy, confusion matrix) and
//! the `evaluate` stage.

pub mod evaluate;
pub mod fid;

use serde::{Deserialize, Serialize};

/// `counts[t * k + p]` = images of true class `t` predicted as `p`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub num_classes: usize,
    pub counts: Vec<u64>,
}

impl Confusion {
    pub fn new(num_classes: usize) -> Self {
        Confusion { num_classes, counts: vec![0; num_classes * num_classes] }
    }

    pub fn from_predictions(num_classes: usize, truth: &[u8], pred: &[u8]) -> Self {
        let mut c = Confusion::new(num_classes);
        for (&t, &p) in truth.iter().zip(pred) {
            c.counts[t as usize * num_classes + p as usize] += 1;
        }
        c
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.num_classes).map(|i| self.counts[i * self.num_classes + i]).sum()
    }

    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// Recall per true class (NaN-free: a class with no images gives 0).
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        let k = self.num_classes;
        (0..k)
            .map(|t| {
                let row: u64 = self.counts[t * k..(t + 1) * k].iter().sum();
                if row == 0 {
                    0.0
                } else {
                    self.counts[t * k + t] as f64 / row as f64
                }
            })
            .collect()
    }

    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts.chunks(self.num_classes).map(|r| r.to_vec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts() {
        let c = Confusion::from_predictions(3, &[0, 0, 1, 2, 2, 2], &[0, 1, 1, 2, 2, 0]);
        assert_eq!(c.rows(), vec![vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 2]]);
        assert!((c.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(c.per_class_accuracy(), vec![0.5, 1.0, 2.0 / 3.0]);
    }
}

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

    /// Images of true class `t` (the row sum) and predicted as `p` (the column sum).
    fn support(&self, t: usize) -> u64 {
        self.counts[t * self.num_classes..(t + 1) * self.num_classes].iter().sum()
    }
    fn predicted(&self, p: usize) -> u64 {
        (0..self.num_classes).map(|t| self.counts[t * self.num_classes + p]).sum()
    }

    /// Mean recall over the classes present in the test set.
    pub fn balanced_accuracy(&self) -> f64 {
        let recall = self.per_class_accuracy();
        let present: Vec<f64> = (0..self.num_classes).filter(|&t| self.support(t) > 0).map(|t| recall[t]).collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    /// F1 = 2·TP / (2·TP + FP + FN) per class (0 where it is 0/0).
    pub fn per_class_f1(&self) -> Vec<f64> {
        (0..self.num_classes)
            .map(|c| {
                let tp = self.counts[c * self.num_classes + c];
                let denom = self.support(c) + self.predicted(c);
                if denom == 0 {
                    0.0
                } else {
                    2.0 * tp as f64 / denom as f64
                }
            })
            .collect()
    }

    /// Mean F1 over the classes that occur as truth or prediction
    /// (scikit-learn's `f1_score(average="macro")`).
    pub fn macro_f1(&self) -> f64 {
        let f1 = self.per_class_f1();
        let seen: Vec<f64> =
            (0..self.num_classes).filter(|&c| self.support(c) + self.predicted(c) > 0).map(|c| f1[c]).collect();
        seen.iter().sum::<f64>() / seen.len().max(1) as f64
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

    /// Balanced accuracy and macro-F1 against values worked out by hand (and
    /// by scikit-learn: balanced_accuracy_score, f1_score(average="macro")).
    #[test]
    fn balanced_accuracy_and_macro_f1_by_hand() {
        // truth 0 0 0 0 1 1 2 2 2 2 2 2, pred 0 0 0 1 1 2 2 2 2 2 0 0
        let truth = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2];
        let pred = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 0, 0];
        let c = Confusion::from_predictions(3, &truth, &pred);
        assert_eq!(c.rows(), vec![vec![3, 1, 0], vec![0, 1, 1], vec![2, 0, 4]]);
        // recalls 3/4, 1/2, 4/6
        assert!((c.balanced_accuracy() - (0.75 + 0.5 + 4.0 / 6.0) / 3.0).abs() < 1e-12);
        // F1: class 0: 2·3/(4+5) = 6/9; class 1: 2·1/(2+2) = 1/2; class 2: 2·4/(6+5) = 8/11
        let f1 = c.per_class_f1();
        for (got, want) in f1.iter().zip([6.0 / 9.0, 0.5, 8.0 / 11.0]) {
            assert!((got - want).abs() < 1e-12, "{f1:?}");
        }
        assert!((c.macro_f1() - (6.0 / 9.0 + 0.5 + 8.0 / 11.0) / 3.0).abs() < 1e-12);
        // A class never seen nor predicted counts in neither average.
        let c = Confusion::from_predictions(4, &[0, 1], &[0, 0]);
        assert!((c.balanced_accuracy() - 0.5).abs() < 1e-12);
        assert!((c.macro_f1() - (2.0 / 3.0 + 0.0) / 2.0).abs() < 1e-12);
    }
}

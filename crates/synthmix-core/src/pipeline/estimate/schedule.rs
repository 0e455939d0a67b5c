//! List scheduling of a target graph on W workers (and G GPUs): whenever a
//! worker is free, the ready target with the longest path to the end
//! starts on it. The critical path bounds every schedule from below.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A graph to schedule: each target's duration (ms), its dependencies, and
/// whether it runs on a GPU.
pub struct Graph<'a> {
    pub ms: &'a [u64],
    pub deps: &'a [Vec<usize>],
    pub on_gpu: &'a [bool],
}

impl Graph<'_> {
    fn dependants(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.ms.len()];
        for (i, ds) in self.deps.iter().enumerate() {
            for &d in ds {
                out[d].push(i);
            }
        }
        out
    }

    /// Each target's longest path to the end, itself included (ms). `topo`
    /// lists dependencies before dependants.
    pub fn bottom_levels(&self, topo: &[usize]) -> Vec<u64> {
        let after = self.dependants();
        let mut bl = vec![0u64; self.ms.len()];
        for &i in topo.iter().rev() {
            let tail = after[i].iter().map(|&k| bl[k]).max().unwrap_or(0);
            bl[i] = self.ms[i].saturating_add(tail);
        }
        bl
    }

    /// The critical path: its targets, first to last.
    pub fn critical_path(&self, topo: &[usize]) -> Vec<usize> {
        let bl = self.bottom_levels(topo);
        let after = self.dependants();
        let Some(mut i) = (0..bl.len()).max_by_key(|&i| (bl[i], Reverse(i))) else {
            return Vec::new();
        };
        let mut path = vec![i];
        while let Some(&k) = after[i].iter().max_by_key(|&&k| (bl[k], Reverse(k))) {
            path.push(k);
            i = k;
        }
        path
    }

    /// The makespan (ms) of the list schedule on `workers` CPU workers and
    /// `gpus` GPUs (GPU targets run on the CPU workers where `gpus` is 0).
    pub fn makespan(&self, topo: &[usize], workers: usize, gpus: usize) -> u64 {
        let bl = self.bottom_levels(topo);
        let after = self.dependants();
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let pool = |i: usize| usize::from(gpus > 0 && self.on_gpu[i]);
        let mut free = [workers.max(1), gpus];
        let mut ready: [BinaryHeap<(u64, Reverse<usize>)>; 2] = [BinaryHeap::new(), BinaryHeap::new()];
        for i in (0..self.ms.len()).filter(|&i| waiting[i] == 0) {
            ready[pool(i)].push((bl[i], Reverse(i)));
        }
        let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        let mut now = 0u64;
        loop {
            for k in 0..2 {
                while free[k] > 0 {
                    let Some((_, Reverse(i))) = ready[k].pop() else { break };
                    free[k] -= 1;
                    running.push(Reverse((now.saturating_add(self.ms[i]), i)));
                }
            }
            let Some(Reverse((t, i))) = running.pop() else { return now };
            now = t;
            free[pool(i)] += 1;
            for &k in &after[i] {
                waiting[k] -= 1;
                if waiting[k] == 0 {
                    ready[pool(k)].push((bl[k], Reverse(k)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_join_is_bounded_by_work_and_by_its_critical_path() {
        // 0 (10) → 1..=4 (5 each) → 5 (1)
        let ms = [10, 5, 5, 5, 5, 1];
        let deps = vec![vec![], vec![0], vec![0], vec![0], vec![0], vec![1, 2, 3, 4]];
        let g = Graph { ms: &ms, deps: &deps, on_gpu: &[false; 6] };
        let topo = [0, 1, 2, 3, 4, 5];
        assert_eq!(g.makespan(&topo, 1, 0), 31);
        assert_eq!(g.makespan(&topo, 2, 0), 21);
        assert_eq!(g.makespan(&topo, 64, 0), 16);
        assert_eq!(g.critical_path(&topo), [0, 1, 5]);
        assert_eq!(g.bottom_levels(&topo)[0], 16);
    }

    #[test]
    fn gpu_targets_wait_for_a_gpu() {
        // Two independent GPU targets and one CPU target; one GPU.
        let ms = [4, 4, 3];
        let deps = vec![vec![], vec![], vec![]];
        let g = Graph { ms: &ms, deps: &deps, on_gpu: &[true, true, false] };
        assert_eq!(g.makespan(&[0, 1, 2], 8, 1), 8);
        assert_eq!(g.makespan(&[0, 1, 2], 8, 2), 4);
        assert_eq!(g.makespan(&[0, 1, 2], 1, 0), 11);
    }
}

//! Job arrays: which `sbatch` submissions a run's queued targets become,
//! and on what each waits. Pure planning, so it is tested without Slurm.
//!
//! The targets of one matrix expansion that run the same stage with the
//! same `sbatch` flags go as one array; a target's array task id is its
//! cell's place in the expansion (modulo `MaxArraySize`, the cells past it
//! going as further arrays), so a rerun resubmits the same ids. The
//! dependencies stay exact: `afterok` on a whole array where every task
//! needs all of it, `aftercorr` where task i needs only task i of another
//! array, and otherwise the array is split by what its tasks wait on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a queued target waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dep {
    /// A job or array task already in Slurm (`123` or `123_4`).
    Known(String),
    /// Another target of the same queue.
    Queued(usize),
}

/// One queued target, as the planner sees it.
#[derive(Debug, Clone)]
pub struct Item {
    pub target: usize,
    /// Targets with the same group may share an array; `None`: a job of its own.
    pub group: Option<String>,
    /// Its cell's place in its matrix expansion.
    pub cell: usize,
    pub deps: Vec<Dep>,
}

/// A job a submission waits on: a Slurm id, or submission `n` of this plan
/// (whole, or task `t` of its array).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobRef {
    Id(String),
    Planned(usize, Option<u32>),
}

/// One `sbatch`: a plain job (one member, `array` false) or an array.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// (target, array task id), in queue order.
    pub members: Vec<(usize, u32)>,
    pub array: bool,
    pub after_ok: Vec<JobRef>,
    /// Earlier arrays of this plan whose task i the task i of this one waits on.
    pub after_corr: Vec<usize>,
}

impl Submission {
    pub fn tasks(&self) -> BTreeSet<u32> {
        self.members.iter().map(|m| m.1).collect()
    }
}

/// The submissions of `items` (in queue order, dependencies first), each
/// after the ones it waits on; array task ids stay below `max_array`.
pub fn plan(items: &[Item], max_array: usize) -> Vec<Submission> {
    let max_array = max_array.max(1);
    let mut groups: Vec<Vec<&Item>> = Vec::new();
    let mut slot: HashMap<(String, usize), usize> = HashMap::new();
    for it in items {
        match &it.group {
            Some(g) => {
                let k = (g.clone(), it.cell / max_array);
                let n = *slot.entry(k).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[n].push(it);
            }
            None => groups.push(vec![it]),
        }
    }
    let mut placed: HashMap<usize, JobRef> = HashMap::new();
    let mut subs: Vec<Submission> = Vec::new();
    while !groups.is_empty() {
        let ready = |it: &Item, placed: &HashMap<usize, JobRef>| {
            it.deps.iter().all(|d| matches!(d, Dep::Known(_)) || matches!(d, Dep::Queued(t) if placed.contains_key(t)))
        };
        // A whole group if one is ready, else the ready part of the first
        // that has one (the queue is in dependency order, so one has).
        let g = groups
            .iter()
            .position(|g| g.iter().all(|it| ready(it, &placed)))
            .or_else(|| groups.iter().position(|g| g.iter().any(|it| ready(it, &placed))))
            .expect("the queue is in dependency order");
        let (now, later): (Vec<&Item>, Vec<&Item>) = groups[g].iter().partition(|it| ready(it, &placed));
        if later.is_empty() {
            groups.remove(g);
        } else {
            groups[g] = later;
        }
        for s in plan_ready(&now, max_array, &placed, &subs) {
            let n = subs.len();
            for &(t, task) in &s.members {
                placed.insert(t, JobRef::Planned(n, s.array.then_some(task)));
            }
            subs.push(s);
        }
    }
    subs
}

/// The submissions of ready members of one group: one array where its
/// dependencies can be said exactly, else one per set of dependencies.
fn plan_ready(
    now: &[&Item],
    max_array: usize,
    placed: &HashMap<usize, JobRef>,
    subs: &[Submission],
) -> Vec<Submission> {
    let refs = |it: &Item| -> BTreeSet<JobRef> {
        it.deps
            .iter()
            .map(|d| match d {
                Dep::Known(id) => JobRef::Id(id.clone()),
                Dep::Queued(t) => placed[t].clone(),
            })
            .collect()
    };
    let members: Vec<(usize, u32)> = now.iter().map(|it| (it.target, task_id(it.cell, max_array))).collect();
    let all: Vec<BTreeSet<JobRef>> = now.iter().map(|it| refs(it)).collect();
    if now[0].group.is_none() {
        let after_ok = compress(&all[0], subs);
        return vec![Submission { members, array: false, after_ok, after_corr: Vec::new() }];
    }
    if let Some((after_ok, after_corr)) = exact_for_all(&members, &all, subs) {
        return vec![Submission { members, array: true, after_ok, after_corr }];
    }
    let mut by_deps: BTreeMap<&BTreeSet<JobRef>, Vec<(usize, u32)>> = BTreeMap::new();
    let mut order: Vec<&BTreeSet<JobRef>> = Vec::new();
    for (m, r) in members.iter().zip(&all) {
        if !by_deps.contains_key(r) {
            order.push(r);
        }
        by_deps.entry(r).or_default().push(*m);
    }
    order
        .into_iter()
        .map(|r| Submission {
            members: by_deps[r].clone(),
            array: true,
            after_ok: compress(r, subs),
            after_corr: Vec::new(),
        })
        .collect()
}

/// A cell's array task id: its place, modulo the largest id allowed.
pub fn task_id(cell: usize, max_array: usize) -> u32 {
    u32::try_from(cell % max_array.max(1)).unwrap_or(u32::MAX)
}

/// `afterok` and `aftercorr` lists that every member's dependencies fit
/// exactly, if there are: the same plain jobs for each; of each array, all
/// of its tasks for each, or for each just the task of its own id.
fn exact_for_all(
    members: &[(usize, u32)],
    all: &[BTreeSet<JobRef>],
    subs: &[Submission],
) -> Option<(Vec<JobRef>, Vec<usize>)> {
    let plain = |r: &BTreeSet<JobRef>| -> BTreeSet<JobRef> {
        r.iter().filter(|j| !matches!(j, JobRef::Planned(_, Some(_)))).cloned().collect()
    };
    let first_plain = plain(&all[0]);
    if all.iter().any(|r| plain(r) != first_plain) {
        return None;
    }
    let arrays: BTreeSet<usize> = all
        .iter()
        .flatten()
        .filter_map(|j| match j {
            JobRef::Planned(n, Some(_)) => Some(*n),
            _ => None,
        })
        .collect();
    let mut after_ok: Vec<JobRef> = first_plain.into_iter().collect();
    let mut after_corr = Vec::new();
    for n in arrays {
        let need = |r: &BTreeSet<JobRef>| -> BTreeSet<u32> {
            r.iter()
                .filter_map(|j| match j {
                    JobRef::Planned(k, Some(t)) if *k == n => Some(*t),
                    _ => None,
                })
                .collect()
        };
        let whole = subs[n].tasks();
        if all.iter().all(|r| need(r) == whole) {
            after_ok.push(JobRef::Planned(n, None));
        } else if members.iter().zip(all).all(|(m, r)| need(r) == BTreeSet::from([m.1])) {
            after_corr.push(n);
        } else {
            return None;
        }
    }
    Some((after_ok, after_corr))
}

/// Dependencies with every array whose tasks are all listed said as the whole array.
fn compress(r: &BTreeSet<JobRef>, subs: &[Submission]) -> Vec<JobRef> {
    let mut tasks: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    for j in r {
        if let JobRef::Planned(n, Some(t)) = j {
            tasks.entry(*n).or_default().insert(*t);
        }
    }
    let whole: BTreeSet<usize> = tasks.iter().filter(|(n, ts)| **ts == subs[**n].tasks()).map(|(n, _)| *n).collect();
    let mut out: Vec<JobRef> =
        r.iter().filter(|j| !matches!(j, JobRef::Planned(n, Some(_)) if whole.contains(n))).cloned().collect();
    out.extend(whole.into_iter().map(|n| JobRef::Planned(n, None)));
    out
}

/// `--array`'s list: ids as ranges (`0-7,9`), then `%N` where throttled.
pub fn array_spec(tasks: &BTreeSet<u32>, max_parallel: Option<usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut it = tasks.iter().copied().peekable();
    while let Some(a) = it.next() {
        let mut b = a;
        while it.peek() == Some(&(b + 1)) {
            b = it.next().expect("peeked");
        }
        parts.push(if a == b { a.to_string() } else { format!("{a}-{b}") });
    }
    let mut s = parts.join(",");
    if let Some(m) = max_parallel {
        s.push_str(&format!("%{m}"));
    }
    s
}

/// The jobs a plan queues (every array task counts), checked against the
/// cluster's limit before anything is submitted: one line if over it.
pub fn check_count(subs: &[Submission], limit: Option<(&str, usize)>) -> Result<usize, String> {
    let n: usize = subs.iter().map(|s| s.members.len()).sum();
    match limit {
        Some((name, max)) if n > max => Err(format!(
            "this run would queue {n} Slurm jobs (array tasks count one each), over the cluster's {name} of {max} \
             (scontrol show config); nothing was submitted: run a part of the spec (name targets, or --skip)"
        )),
        _ => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(target: usize, group: Option<&str>, cell: usize, deps: Vec<Dep>) -> Item {
        Item { target, group: group.map(str::to_string), cell, deps }
    }

    /// base; prep-0..5 (array, after base); work-i after prep-i; report after every work.
    fn chain(n: usize) -> Vec<Item> {
        let mut v = vec![item(0, None, 0, vec![])];
        for c in 0..n {
            v.push(item(1 + c, Some("prep"), c, vec![Dep::Queued(0)]));
        }
        for c in 0..n {
            v.push(item(1 + n + c, Some("work"), c, vec![Dep::Queued(1 + c)]));
        }
        v.push(item(1 + 2 * n, None, 0, (0..n).map(|c| Dep::Queued(1 + n + c)).collect()));
        v
    }

    #[test]
    fn a_matrix_goes_as_arrays_with_afterok_and_aftercorr() {
        let s = plan(&chain(6), 1001);
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(!s[0].array && s[0].after_ok.is_empty());
        assert_eq!(s[1].after_ok, [JobRef::Planned(0, None)]);
        assert_eq!(s[1].tasks(), (0..6).collect());
        assert_eq!((s[2].after_ok.len(), &s[2].after_corr[..]), (0, &[1][..]));
        assert_eq!(s[3].after_ok, [JobRef::Planned(2, None)], "the report waits on the whole array");
    }

    #[test]
    fn over_max_array_size_a_matrix_is_split_and_stays_exact() {
        let s = plan(&chain(12), 8);
        let arrays: Vec<(BTreeSet<u32>, &[usize])> =
            s.iter().filter(|s| s.array).map(|s| (s.tasks(), &s.after_corr[..])).collect();
        assert_eq!(arrays.len(), 4, "{s:?}");
        assert_eq!(arrays[0].0, (0..8).collect());
        assert_eq!(arrays[1].0, (0..4).collect());
        assert!(s.iter().all(|s| s.tasks().iter().all(|&t| t < 8)));
        // The work arrays wait task by task on the prep array of their own cells.
        let work: Vec<&Submission> = s.iter().filter(|s| !s.after_corr.is_empty()).collect();
        assert_eq!(work.len(), 2, "{s:?}");
        let last = s.last().unwrap();
        let mut after = last.after_ok.clone();
        after.sort();
        assert_eq!(after.len(), 2, "the report waits on both work arrays whole: {after:?}");
    }

    #[test]
    fn an_edge_neither_form_describes_splits_the_array() {
        // Two generators; each of six classifiers reads generator cell/3.
        let mut v = vec![item(0, Some("gan"), 0, vec![]), item(1, Some("gan"), 1, vec![])];
        for c in 0..6 {
            v.push(item(2 + c, Some("clf"), c, vec![Dep::Queued(c / 3)]));
        }
        let s = plan(&v, 1001);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[1].after_ok, [JobRef::Planned(0, Some(0))]);
        assert_eq!(s[2].after_ok, [JobRef::Planned(0, Some(1))]);
        assert_eq!(s[2].tasks(), (3..6).collect());
    }

    #[test]
    fn a_rerun_of_some_cells_is_one_array_of_just_those_ids() {
        let v = vec![
            item(3, Some("work"), 3, vec![Dep::Known("77".into())]),
            item(9, Some("work"), 9, vec![Dep::Known("77".into())]),
        ];
        let s = plan(&v, 1001);
        assert_eq!(s.len(), 1);
        assert_eq!(array_spec(&s[0].tasks(), Some(2)), "3,9%2");
        assert_eq!(s[0].after_ok, [JobRef::Id("77".into())]);
    }

    #[test]
    fn array_lists_and_the_job_count_limit() {
        assert_eq!(array_spec(&BTreeSet::from([0, 1, 2, 5, 7, 8]), None), "0-2,5,7-8");
        let s = plan(&chain(6), 1001);
        assert_eq!(check_count(&s, Some(("MaxJobCount", 14))), Ok(14));
        let e = check_count(&s, Some(("MaxSubmitJobs", 10))).unwrap_err();
        assert!(e.contains("14 Slurm jobs") && e.contains("MaxSubmitJobs of 10"), "{e}");
    }
}

//! The epoch loop both generator trainers run (`gan-train`, `dpm-train`):
//! where a run starts (epoch 0 or its saved state), what its epochs have
//! written so far, the loop and the report it ends with. The families
//! differ only in what one epoch does: their [`Trainer`].

use std::path::Path;

use serde::Serialize;

use super::saved::Common;
use super::stop::{self, Until};
use crate::error::Result;

/// The end of a saved run whose last epoch was saved: its quality, and the
/// epoch that met `--until`.
pub type SavedEnd = (Option<(f64, f64)>, Option<usize>);

/// What a saved state keeps of the run's log: the log CSV so far, the best
/// FID with its epoch, and the saved epoch's FID and recognition.
pub type SavedLog<'a> = (&'a str, Option<(usize, f64)>, Option<(f64, f64)>);

/// Where training starts: epoch 0, or the saved run's state.
pub struct Start {
    pub epoch: usize,
    pub csv: String,
    pub best: Option<(usize, f64)>,
    /// Logged once every input has been checked, so a refusal stays one line.
    pub note: Option<String>,
    /// The saved epoch is the run's last: nothing to train, only its files
    /// to write again.
    pub finish: Option<SavedEnd>,
}

impl Start {
    /// Epoch 0, a log of only `header`; `missing` is the state a --resume
    /// did not find (said in the note).
    pub fn fresh(header: &str, missing: Option<&Path>) -> Start {
        let note = missing.map(|p| format!("--resume: no {} yet, starting from epoch 0", p.display()));
        Start { epoch: 0, csv: header.to_string(), best: None, note, finish: None }
    }

    /// The saved state at `path` (its fields `common`, checked as `todo`).
    pub(crate) fn saved(common: Common, todo: stop::Resume, path: &Path) -> Start {
        let finish = match todo {
            stop::Resume::Train => None,
            stop::Resume::Finish { stopped_at } => Some((common.quality, stopped_at)),
        };
        let what = if finish.is_some() { "finishing the run saved at" } else { "resuming from" };
        let note = format!("{what} epoch {} ({})", common.epoch, path.display());
        Start { epoch: common.epoch, csv: common.log_csv, best: common.best, note: Some(note), finish }
    }
}

/// What the epochs have written so far: the log, the best FID, the epochs'
/// rows, the epoch of the last saved state and the epoch that met `--until`.
pub struct Progress<L> {
    pub csv: String,
    pub best: Option<(usize, f64)>,
    pub logs: Vec<L>,
    pub last_checkpoint: usize,
    pub stopped_at: Option<usize>,
}

impl<L> Progress<L> {
    /// Ends an epoch whose checkpoints are written: the log file (only now,
    /// so a full disk leaves no log row of a lost checkpoint), its row, and
    /// the epoch that met `--until`, if it did.
    pub fn end_epoch(&mut self, log: &Path, row: L, met: Option<usize>) -> Result<()> {
        crate::artifact::write_atomic(log, self.csv.as_bytes())?;
        self.logs.push(row);
        self.stopped_at = met.or(self.stopped_at);
        Ok(())
    }
}

/// A row of a generator's training log, as far as the loop reads it.
pub trait EpochRow {
    /// The epoch's FID and recognition, when it measured them.
    fn quality(&self) -> Option<(f64, f64)>;
}

/// What one epoch of a generator family does.
pub trait Trainer {
    type Nets;
    type Row: EpochRow;
    /// Trains `epoch` over `order` (shuffled in place), measures it and
    /// writes its files; true when it met `--until` (the run stops there).
    fn train(
        &self,
        nets: &mut Self::Nets,
        epoch: usize,
        order: &mut [usize],
        run: &mut Progress<Self::Row>,
    ) -> Result<bool>;
    /// Nothing left to train: the saved last epoch's files again.
    fn finish_saved(&self, nets: &Self::Nets, end: SavedEnd, run: &mut Progress<Self::Row>) -> Result<()>;
}

/// What a run ends with.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport<L> {
    /// The epochs trained by this invocation.
    pub epochs: Vec<L>,
    /// The epoch a `--resume` continued from.
    pub resumed_from: Option<usize>,
    /// Lowest FID seen and its epoch.
    pub best_fid: Option<(usize, f64)>,
    /// The epoch at which `--until` was met (training stopped there).
    pub stopped_at: Option<usize>,
    pub train_images: usize,
    pub wall_time_s: f64,
    /// The provenance metric `until_reached`: 1 met, 0 missed, none without `--until`.
    #[serde(skip)]
    pub until_reached: Option<f64>,
}

impl<L> TrainReport<L> {
    /// The last epoch's row (a run trains or finishes one at least).
    pub fn last(&self) -> &L {
        self.epochs.last().expect("a run ends with one epoch at least")
    }
}

/// Trains epochs `start.epoch + 1 ..= epochs` of `images` training images
/// until one meets `until`, or finishes a saved run that has none left.
pub fn run<T: Trainer>(
    t: &T,
    nets: &mut T::Nets,
    start: Start,
    (epochs, until): (usize, Option<Until>),
    images: usize,
) -> Result<TrainReport<T::Row>> {
    let mut run =
        Progress { csv: start.csv, best: start.best, logs: Vec::new(), last_checkpoint: start.epoch, stopped_at: None };
    if let Some(end) = start.finish {
        t.finish_saved(nets, end, &mut run)?;
    } else {
        let mut order: Vec<usize> = (0..images).collect();
        for epoch in start.epoch + 1..=epochs {
            if t.train(nets, epoch, &mut order, &mut run)? {
                break;
            }
        }
    }
    let last = run.logs.last().expect("a run ends with one epoch at least").quality();
    Ok(TrainReport {
        until_reached: stop::report(until, run.stopped_at, epochs, last),
        epochs: run.logs,
        resumed_from: (start.epoch > 0).then_some(start.epoch),
        best_fid: run.best,
        stopped_at: run.stopped_at,
        train_images: images,
        wall_time_s: 0.0,
    })
}

//! What every binary shares: the common flags, logging set-up, and the one-line
//! error report with a non-zero exit.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::data::DataOptions;

/// Env var: when set (non-empty), every program parses its command line and
/// exits 0 without doing anything, so a test can check that documented
/// commands are accepted as written.
pub const PARSE_ONLY_ENV: &str = "SYNTHMIX_PARSE_ONLY";

/// Whether [`PARSE_ONLY_ENV`] is set.
pub fn parse_only() -> bool {
    std::env::var_os(PARSE_ONLY_ENV).is_some_and(|v| !v.is_empty())
}

/// Where a stage computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

impl DeviceArg {
    pub fn device(&self) -> crate::Result<candle_core::Device> {
        match self {
            DeviceArg::Cpu => Ok(candle_core::Device::Cpu),
            DeviceArg::Cuda => candle_core::Device::new_cuda(0).map_err(|e| {
                crate::Error::Invalid(format!(
                    "--device cuda: {} (this build may lack the `cuda` feature, or no NVIDIA GPU is present)",
                    crate::error::strip_backtrace(e)
                ))
            }),
        }
    }
}

/// Logging flags, shared by every program.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// More log output (-v debug, -vv trace). Env RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors; no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl LogArgs {
    /// Sets up `tracing` logging to stderr at the chosen verbosity; colours
    /// only on a terminal, and never with NO_COLOR set (no-color.org).
    pub fn init_logging(&self) {
        let level = if self.quiet {
            "warn"
        } else {
            match self.verbose {
                0 => "info",
                1 => "debug",
                _ => "trace",
            }
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_target(false)
            .with_writer(std::io::stderr)
            .try_init();
        // The thread setup ran before logging existed: its warnings now.
        crate::threads::report();
        if self.quiet {
            crate::progress::set_hidden(true);
        }
    }
}

/// How MNIST-C corruptions are computed when their files are absent.
#[derive(Debug, Clone, Args)]
pub struct CorruptionArgs {
    /// MNIST-C severity (1-5) used when an `mnist-c/CORRUPTION:*` set is
    /// computed from MNIST because its MNIST-C files are absent. Default: the
    /// severity MNIST-C used for that corruption (shot_noise, brightness, fog
    /// 5; impulse_noise, spatter 4; scale, translate 3; shear, rotate 2;
    /// glass_blur, motion_blur 1). Ignored by stripe, dotted_line, zigzag and
    /// canny_edges, which have no severity.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: Option<u8>,

    /// Seed of computed corruptions; fixed by default so every stage sees the
    /// same corrupted test set.
    #[arg(long, default_value_t = 0)]
    pub corruption_seed: u64,
}

impl Default for CorruptionArgs {
    fn default() -> Self {
        CorruptionArgs { severity: None, corruption_seed: 0 }
    }
}

impl CorruptionArgs {
    /// Data options for the data dir `--data-dir` names (or the default rule's).
    pub fn data_options(&self, data_dir: Option<&std::path::Path>) -> DataOptions {
        DataOptions {
            data_dir: crate::data::resolve_data_dir(data_dir),
            severity: self.severity,
            corruption_seed: self.corruption_seed,
        }
    }
}

/// The data dir flag.
pub const DATA_DIR_HELP: &str =
    "Folder holding the real datasets (mnist/, fashion-mnist/, cifar-10/, cifar-10-jpeg/, mnist-c/). \
     Default: env SYNTHMIX_DATA, else ./data if it holds anything, else ../shared/data if that does, else ./data.";

/// Flags common to every stage.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[arg(long, value_name = "DIR", help = DATA_DIR_HELP)]
    pub data_dir: Option<PathBuf>,

    #[command(flatten)]
    pub corruption: CorruptionArgs,

    /// Device to compute on.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,

    #[command(flatten)]
    pub log: LogArgs,
}

impl CommonArgs {
    pub fn data_options(&self) -> DataOptions {
        self.corruption.data_options(self.data_dir.as_deref())
    }

    pub fn device(&self) -> crate::Result<candle_core::Device> {
        self.device.device()
    }

    pub fn init_logging(&self) {
        self.log.init_logging()
    }
}

/// Runs a binary's body and turns an error into one line on stderr and exit 1.
/// The chain of contexts is joined with ": "; no backtrace is printed even
/// when `RUST_BACKTRACE` is set. Sets up the thread pools first
/// ([`crate::threads::configure`]).
pub fn run_main(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    crate::threads::configure();
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error chain as a single line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let msg = match cause.downcast_ref::<candle_core::Error>() {
            // candle's Display appends a captured backtrace: drop it.
            Some(c) => crate::error::strip_backtrace(clone_candle(c)).to_string(),
            None => cause.to_string(),
        };
        // Names quoted from files may hold ESC or other controls: shown escaped.
        let msg = crate::terminal::escape(&msg.split_whitespace().collect::<Vec<_>>().join(" ")).into_owned();
        // thiserror `#[source]` chains repeat the inner text; keep the line short.
        if parts.last().is_some_and(|last| last.ends_with(&msg)) {
            continue;
        }
        parts.push(msg);
    }
    crate::terminal::clip_line(&parts.join(": ")).into_owned()
}

fn clone_candle(e: &candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => clone_candle(inner),
        other => candle_core::Error::Msg(other.to_string()),
    }
}

/// When a generator's training stops early, and what its FID compares
/// against (`gan-train`, `dpm-train`).
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Stop at a quality target: recognition:R (the features network
    /// recognises at least R of the generated images as their class) or
    /// fid:F (FID at most F), checked whenever FID is measured
    /// (--fid-every); --epochs is then the cap. Needs --features.
    #[arg(long, value_name = "TARGET")]
    pub until: Option<crate::train::stop::Until>,
    /// The real images FID compares against: an image-set file or
    /// DATASET:SPLIT, never a test split (default: the training set). Give
    /// every generator of a study the same set to compare their FIDs.
    #[arg(long, value_name = "SET", value_hint = clap::ValueHint::FilePath)]
    pub fid_reference: Option<String>,
}

impl StopArgs {
    /// The flag's file, where it names one, for the output-versus-input checks.
    pub fn input(&self) -> Option<(&'static str, &std::path::Path)> {
        self.fid_reference.as_deref().map(|r| ("--fid-reference", std::path::Path::new(r)))
    }
}

//! The generators behind a study's results: which one made each synthetic
//! set (from the sets' own metadata), its settings and final quality (from
//! its checkpoint), its FID and recognition per epoch (from its log CSV) and
//! its last sample grid.

use std::path::{Path, PathBuf};

use super::model::GenId;
use super::writer::Writer;
use crate::artifact::meta;
use crate::error::{Error, IoContext, Result};

/// What the report says about one generator.
#[derive(Debug, Clone)]
pub struct GeneratorInfo {
    pub id: GenId,
    pub dataset: String,
    pub path: PathBuf,
    pub arch: String,
    pub epoch: usize,
    pub lr_d: String,
    pub lr_g: String,
    /// FID and recognition of the final checkpoint (its training log's last row).
    pub fid: Option<f64>,
    pub recognition: Option<f64>,
    /// The features network of its FID and recognition, and its BLAKE3.
    pub features: Option<(String, String)>,
    /// (epoch, FID, recognition) per epoch, from `STEM.log.csv`.
    pub curve: Vec<(usize, Option<f64>, Option<f64>)>,
    /// Training wall time: its log's `wall_s` summed over every epoch, so a
    /// run resumed across sessions counts all of them (its provenance times
    /// only the last invocation).
    pub train_s: Option<f64>,
    /// Every `STEM.grid-epochNNN.png` as (epoch, path), in epoch order.
    pub grids: Vec<(usize, PathBuf)>,
    /// Known only by an earlier report's results.csv rows (`--prior`): its
    /// checkpoint, log and grids are not here, so its sections are quoted.
    pub from_results_csv: bool,
}

/// The generator checkpoint at `path` (whose BLAKE3 a set recorded): its
/// preset and seed, settings and quality, from its header, log and grids.
pub fn read(path: &Path, blake3: &str) -> Result<GeneratorInfo> {
    let m = meta::read_checkpoint_header(path)?;
    // (family, preset, seed, lr_d, lr_g, fid): a diffusion model has one lr
    // (its generator's; "–" for the discriminator it has not) and no preset.
    let (family, preset, seed, lr_d, lr_g, fid) = match (m.gan(), m.diffusion()) {
        (Some(g), _) => ("gan", g.preset.clone(), g.seed, g.lr_d.to_string(), g.lr_g.to_string(), &g.fid),
        (None, Some(d)) => ("diffusion", String::new(), d.seed, "–".to_string(), d.lr.to_string(), &d.fid),
        (None, None) => {
            return Err(Error::format(path, "a generator without gan-train's or dpm-train's record (imported?)"))
        }
    };
    let id = GenId { family: family.into(), arch: m.arch.clone(), preset, seed, blake3: blake3.to_string() };
    let (curve, train_s) = read_log(&crate::artifact::sibling(path, "log.csv"))?;
    Ok(GeneratorInfo {
        id,
        dataset: m.dataset.clone(),
        arch: m.arch.clone(),
        epoch: m.epoch,
        lr_d,
        lr_g,
        fid: fid.as_ref().map(|f| f.fid),
        recognition: fid.as_ref().map(|f| f.recognition),
        features: fid.as_ref().map(|f| (f.features.clone(), f.features_blake3.clone())),
        curve,
        train_s,
        grids: grids(path),
        path: path.to_path_buf(),
        from_results_csv: false,
    })
}

/// A `gan-train` or `dpm-train` log in one pass (columns found by name):
/// its (epoch, FID, recognition) rows, and its `wall_s` summed over the rows
/// where it parses (none without the column or such a row). Empty and none
/// if there is no log.
fn read_log(csv: &Path) -> Result<(Vec<(usize, Option<f64>, Option<f64>)>, Option<f64>)> {
    let Ok(text) = std::fs::read_to_string(csv) else {
        return Ok((Vec::new(), None));
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| Error::format(csv, format!("no '{name}' column")))
    };
    let (e, f, r) = (col("epoch")?, col("fid")?, col("recognition")?);
    let wall = header.iter().position(|h| *h == "wall_s");
    let (mut rows, mut walls) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let v: Vec<&str> = line.split(',').collect();
        let bad = || Error::format(csv, format!("row {}: malformed", i + 2));
        let epoch = v.get(e).and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let opt = |c: usize| v.get(c).and_then(|x| x.parse::<f64>().ok());
        rows.push((epoch, opt(f), opt(r)));
        walls.extend(wall.and_then(opt));
    }
    let train_s = (!walls.is_empty()).then(|| walls.iter().sum());
    Ok((rows, train_s))
}

/// The sample grid of the highest epoch beside the generator.
fn grids(path: &Path) -> Vec<(usize, PathBuf)> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!("{stem}.grid-epoch");
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<(usize, PathBuf)> = rd
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter_map(|n| {
            let epoch = n.strip_prefix(&prefix)?.strip_suffix(".png")?.parse().ok()?;
            Some((epoch, dir.join(n)))
        })
        .collect();
    v.sort();
    v
}

/// Copies a generator's last grid into the report folder; returns its name there.
pub fn copy_grid(g: &GeneratorInfo, w: &mut Writer) -> Result<Option<String>> {
    let Some((_, src)) = g.grids.last() else { return Ok(None) };
    let name = format!("generator-{}-{}-grid.png", super::writer::file_part(&g.dataset), g.id.slug());
    w.write(&name, &std::fs::read(src).at(src)?)?;
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn training_time_sums_the_logs_epochs() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("g.log.csv");
        let wall = |p: &std::path::Path| super::read_log(p).unwrap().1;
        std::fs::write(&log, "epoch,loss,fid,recognition,wall_s\n1,0.5,,,100.5\n2,0.4,9.5,0.6,200.25\n").unwrap();
        assert_eq!(wall(&log), Some(300.75));
        std::fs::write(&log, "epoch,loss,fid,recognition\n1,0.5,,\n").unwrap();
        assert_eq!(wall(&log), None, "no wall_s column");
        assert_eq!(wall(&t.path().join("none.csv")), None);
    }
}

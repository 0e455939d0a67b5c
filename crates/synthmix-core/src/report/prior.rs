//! Results of an earlier publication of the same study, merged into a new
//! report (`synthmix report --prior DIR`): the new run's METRICS.json files
//! win; every prior result that the new run recomputed is compared with it
//! (a determinism check across machines and sessions), and the rest are
//! imported with their generator matched by its checkpoint's BLAKE3. The
//! prior report's provenance section is quoted, so the merged report still
//! says which commit, machine and wall time made each number.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::generators::GeneratorInfo;
use super::model::{GenId, Mix, Observation, TestKind};
use super::results::{self, ResultRow};
use crate::error::{Error, IoContext, Result};

/// An earlier report folder: its results and its provenance section.
#[derive(Debug, Clone)]
pub struct Prior {
    pub dir: PathBuf,
    pub rows: Vec<ResultRow>,
    /// The body of its report.md's "Settings, provenance and cost" section.
    pub provenance: String,
}

/// What merging a prior report did.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    pub dir: PathBuf,
    pub imported: usize,
    pub recomputed: usize,
    /// Recomputed results that differ: (what, prior, new).
    pub mismatches: Vec<(String, f64, f64)>,
    pub provenance: String,
}

/// Results are equal when they agree to results.csv's older 6-decimal form.
const SAME: f64 = 5e-7;

impl Prior {
    pub fn read(dir: &Path) -> Result<Prior> {
        let csv = dir.join("results.csv");
        let rows = results::read(&csv)?;
        if rows.is_empty() {
            return Err(Error::format(&csv, "holds no results"));
        }
        let md = dir.join("report.md");
        let text = std::fs::read_to_string(&md).at(&md)?;
        Ok(Prior { dir: dir.to_path_buf(), rows, provenance: provenance_section(&text) })
    }

    /// Adds the prior's results that `obs` lacks; compares the ones it has.
    /// A row's generator is matched by BLAKE3 with one of `gens` (the new
    /// run's); one that matches none is known by its row alone (see
    /// [`generator_of_row`]) and added to `gens`. `alone`: the report is
    /// rebuilt from this folder alone (no METRICS.json).
    pub fn merge_into(
        &self,
        obs: &mut Vec<Observation>,
        gens: &mut BTreeMap<GenId, GeneratorInfo>,
        alone: bool,
    ) -> Result<Merged> {
        let key = |d: &str, g: &str, m: Mix, t: &str, s: u64| (d.to_string(), g.to_string(), m, t.to_string(), s);
        let have: HashMap<_, f64> = obs
            .iter()
            .map(|o| {
                let g = o.generator.as_ref().map(|g| g.blake3.as_str()).unwrap_or("");
                (key(&o.dataset, g, o.mix, &o.test.key(), o.seed), o.accuracy)
            })
            .collect();
        let csv = self.dir.join("results.csv");
        let mut m = Merged { dir: self.dir.clone(), provenance: self.provenance.clone(), ..Default::default() };
        for (i, r) in self.rows.iter().enumerate() {
            let at = |msg: String| Error::format(&csv, format!("row {}: {msg}", i + 2));
            let mix =
                Mix::parse_label(&r.train).ok_or_else(|| at(format!("train '{}' is not O, S or O:S", r.train)))?;
            if let Some(&new) = have.get(&key(&r.dataset, &r.generator_blake3, mix, &r.test, r.seed)) {
                m.recomputed += 1;
                if (new - r.accuracy).abs() > SAME {
                    let what = format!("{} {} {} → {} seed {}", r.dataset, r.generator, r.train, r.test, r.seed);
                    m.mismatches.push((what, r.accuracy, new));
                }
                continue;
            }
            let generator = match r.generator_blake3.as_str() {
                "" => None,
                h => match gens.keys().find(|g| g.blake3 == h) {
                    Some(g) => Some(g.clone()),
                    // Behind none of the new METRICS.json files: known by its row alone.
                    None => {
                        let info = generator_of_row(r).map_err(at)?;
                        gens.insert(info.id.clone(), info.clone());
                        Some(info.id)
                    }
                },
            };
            obs.push(Observation {
                dataset: r.dataset.clone(),
                generator,
                mix,
                test: TestKind::from_key(&r.test),
                test_set: r.test_set.clone(),
                seed: r.seed,
                accuracy: r.accuracy,
                classifier: r.classifier.clone(),
                train: r.train_set.clone(),
                // Rebuilt from this folder alone, its rows are the report's own: their column stays as it was.
                imported_from: match (alone, r.imported_from.is_empty()) {
                    (true, true) => None,
                    (false, true) => Some(self.dir.display().to_string()),
                    (_, false) => Some(r.imported_from.clone()),
                },
                per_class: vec![],
            });
            m.imported += 1;
        }
        Ok(m)
    }
}

/// What an earlier report folder says of itself in prose, for a report
/// rebuilt from that folder alone (`--prior` without `--metrics`): its
/// opening (title and note paragraphs, verbatim) and its provenance section
/// (which commits, machine and wall times made the numbers). No number is
/// read from this text: the numbers come from the folder's CSVs.
#[derive(Debug, Clone)]
pub struct PriorText {
    pub dir: PathBuf,
    /// `# title` and the `> ` note paragraphs under it, as written.
    pub opening: String,
    /// The provenance section's body, less the lines a report writes itself
    /// (links to its CSVs, an earlier recomputation line).
    pub provenance: String,
    /// report.md's whole text, for a section quoted verbatim (see [`PriorText::section`]).
    md: String,
}

/// The line a rebuilt report adds to the quoted provenance.
pub const RECOMPUTED: &str = "- Verdicts recomputed";

impl PriorText {
    pub fn read(dir: &Path) -> Result<PriorText> {
        let md = dir.join("report.md");
        let text = std::fs::read_to_string(&md).at(&md)?;
        if !text.starts_with("# ") {
            return Err(Error::format(&md, "does not start with a '# ' title: not a synthmix report"));
        }
        let provenance = provenance_section(&text);
        if provenance.is_empty() {
            return Err(Error::format(&md, "has no '## Settings, provenance and cost' section to carry over"));
        }
        let kept: Vec<&str> = provenance
            .lines()
            .filter(|l| {
                // A link to one of the folder's CSVs: the rebuilt report writes its own.
                !(l.ends_with(".csv).") || l.starts_with(RECOMPUTED))
            })
            .collect();
        let provenance = kept.join("\n").trim().to_string();
        Ok(PriorText { dir: dir.to_path_buf(), opening: opening(&text), provenance, md: text })
    }

    /// The provenance section of a report rebuilt from this folder: the
    /// original runs' provenance, with a line under its opening bullets
    /// saying when and by which build the verdicts were recomputed.
    pub fn provenance_markdown(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let day = super::context::utc(now);
        let line = format!(
            "{RECOMPUTED} (paired interval, TOST against ±{}, Holm within this report's family) from this folder's \
             CSVs on {} by synthmix {} at commit {}; every other number is the original runs'.",
            super::stats::MARGIN,
            &day[..10],
            crate::VERSION,
            crate::GIT_COMMIT
        );
        let lines: Vec<&str> = self.provenance.lines().collect();
        let at = lines.iter().position(|l| !l.starts_with("- ")).unwrap_or(lines.len());
        let mut out: Vec<&str> = lines[..at].to_vec();
        out.push(&line);
        out.extend(&lines[at..]);
        format!("{}\n\n", out.join("\n"))
    }
}

impl PriorText {
    /// The title, as its report.md's first line writes it.
    pub fn title(&self) -> String {
        self.opening.lines().next().unwrap_or("").trim_start_matches("# ").to_string()
    }

    /// A document opened as this folder's report is: its title line and
    /// the notes under it, verbatim.
    pub fn document(&self) -> super::document::Document {
        let first = self.opening.split_once("\n\n").map_or(self.opening.as_str(), |x| x.0);
        let title_md = first.strip_prefix("# ").unwrap_or(first).to_string();
        let intro = self.notes().into_iter().collect();
        super::document::Document {
            title: super::md::plain(&title_md),
            title_md: Some(title_md),
            intro,
            sections: Vec::new(),
        }
    }

    /// The notes under its title, verbatim, if it has any.
    pub fn notes(&self) -> Option<super::document::Block> {
        let notes = self.opening.split_once("\n\n").map_or("", |x| x.1);
        (!notes.trim().is_empty()).then(|| super::document::Block::Quoted(notes.into()))
    }

    /// The section `## heading` (its heading line included) up to the next
    /// `## `, verbatim: for a section whose numbers the folder's CSVs do
    /// not hold (the caller says so where it quotes it).
    pub fn section(&self, heading: &str) -> Option<String> {
        let start = self.md.find(&format!("\n## {heading}\n"))? + 1;
        let rest = &self.md[start..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
        Some(rest[..end].to_string())
    }
}

impl PriorText {
    /// [`PriorText::section`] for a report written through `w`, with every
    /// file it links (`](name.png)`) copied from the folder beside it, and a
    /// line saying it is quoted; `None` where the folder has no such section.
    pub fn quote(&self, heading: &str, why: &str, w: &mut super::writer::Writer) -> Result<Option<String>> {
        let Some(q) = self.section(heading) else { return Ok(None) };
        for link in q.split("](").skip(1).filter_map(|r| r.split(')').next()) {
            if link.contains('/') || link.contains("://") || link.contains(' ') {
                continue;
            }
            let from = self.dir.join(link);
            w.write(link, &std::fs::read(&from).at(&from)?)?;
            // A figure's SVG copy travels with it.
            let svg = Path::new(link).with_extension("svg");
            if link.ends_with(".png") && self.dir.join(&svg).is_file() {
                let from = self.dir.join(&svg);
                w.write(&svg.to_string_lossy(), &std::fs::read(&from).at(&from)?)?;
            }
        }
        // Less a link to the folder's results.csv (the last section's tail): the report writes its own.
        let kept: Vec<&str> = q.lines().filter(|l| !l.ends_with("(results.csv).")).collect();
        Ok(Some(quoted(&format!("{}\n", kept.join("\n")), why)))
    }
}

/// A section as quoted: its heading, a line saying it is quoted and `why`, its body.
/// Where a rebuilt or merged report's results came from, for its opening
/// sentence: `files` (e.g. "3 METRICS.json files") and/or the `imported`
/// rows of the prior folder `dir`'s results.csv.
pub fn sources(files: String, no_files: bool, prior: Option<(&Path, usize)>) -> String {
    match prior {
        None => files,
        Some((dir, _)) if no_files => format!("the results.csv of {}", dir.display()),
        Some((dir, imported)) => format!("{files} and {imported} imported from the results.csv of {}", dir.display()),
    }
}

pub fn quoted(section: &str, why: &str) -> String {
    let (head, body) = section.split_once("\n\n").unwrap_or((section, ""));
    if body.starts_with("Quoted from the published report") {
        return section.to_string(); // quoted already: a republished report republished
    }
    format!("{head}\n\nQuoted from the published report as it stood: {why}.\n\n{body}")
}

/// The title line and the `> ` note paragraphs right under it.
fn opening(md: &str) -> String {
    let mut out = String::new();
    for (i, para) in md.split("\n\n").enumerate() {
        if i > 0 && !para.starts_with("> ") {
            break;
        }
        out.push_str(para);
        out.push_str("\n\n");
    }
    out
}

/// A generator known only by a results.csv row: its family, architecture
/// and preset columns (empty in files written before them, as the row's
/// label was: `default, G seed 0`), its seed from the label, its BLAKE3. Its
/// quality, curves and grids are unknown (a rebuilt report quotes the
/// published generators section instead).
fn generator_of_row(r: &ResultRow) -> std::result::Result<GeneratorInfo, String> {
    let (name, seed) = r
        .generator
        .rsplit_once(", G seed ")
        .ok_or_else(|| format!("generator '{}' is not 'PRESET, G seed N'", r.generator))?;
    let seed = seed.parse().map_err(|_| format!("generator '{}': seed is not a number", r.generator))?;
    // Rows written before the architecture column name the preset in the
    // label alone; a diffusion model's row has an architecture and no preset.
    let legacy = r.preset.is_empty() && r.arch.is_empty();
    let preset = if legacy { name.rsplit(' ').next().unwrap_or(name).to_string() } else { r.preset.clone() };
    let id = GenId { family: r.family.clone(), arch: r.arch.clone(), preset, seed, blake3: r.generator_blake3.clone() };
    if id.label() != r.generator {
        return Err(format!("generator '{}' does not read back as its columns ('{}')", r.generator, id.label()));
    }
    Ok(GeneratorInfo {
        id,
        dataset: r.dataset.clone(),
        path: PathBuf::new(),
        arch: r.arch.clone(),
        epoch: 0,
        lr_d: "–".into(),
        lr_g: "–".into(),
        fid: None,
        recognition: None,
        features: None,
        curve: vec![],
        train_s: None,
        grids: vec![],
        from_results_csv: true,
    })
}

/// The lines under `## Settings, provenance and cost`, up to the next `## `.
fn provenance_section(md: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in md.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Settings, provenance and cost";
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen() -> GenId {
        GenId { family: "gan".into(), arch: "mlp".into(), preset: "default".into(), seed: 0, blake3: "ab".into() }
    }

    fn obs(mix: Mix, seed: u64, acc: f64) -> Observation {
        Observation {
            dataset: "mnist".into(),
            generator: Some(gen()),
            mix,
            test: TestKind::Original,
            test_set: "mnist:test".into(),
            seed,
            accuracy: acc,
            classifier: format!("c{seed}"),
            train: "mnist:train".into(),
            imported_from: None,
            per_class: vec![],
        }
    }

    fn prior_dir(rows: &[Observation]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("results.csv"), results::to_csv(rows).unwrap()).unwrap();
        std::fs::write(
            dir.path().join("report.md"),
            "# t\n\n## Settings, provenance and cost\n\n- commit abc\n\n## Headline\n\nx\n",
        )
        .unwrap();
        dir
    }

    fn info(id: GenId) -> GeneratorInfo {
        GeneratorInfo {
            id,
            dataset: "mnist".into(),
            path: "g.safetensors".into(),
            arch: "mlp".into(),
            epoch: 1,
            lr_d: "1".into(),
            lr_g: "1".into(),
            fid: None,
            recognition: None,
            features: None,
            curve: vec![],
            train_s: None,
            grids: vec![],
            from_results_csv: false,
        }
    }

    #[test]
    fn imports_what_is_missing_and_checks_what_was_recomputed() {
        let o = Mix::new(1, 0);
        let dir = prior_dir(&[obs(o, 0, 0.98), obs(o, 1, 0.97), obs(Mix::new(5, 1), 0, 0.96)]);
        let prior = Prior::read(dir.path()).unwrap();
        assert_eq!(prior.provenance, "- commit abc");
        let gens = BTreeMap::from([(gen(), info(gen()))]);
        let mut now = vec![obs(o, 0, 0.98), obs(o, 1, 0.9701)];
        let mut gens = gens;
        let m = prior.merge_into(&mut now, &mut gens, false).unwrap();
        assert_eq!((m.imported, m.recomputed), (1, 2));
        assert_eq!(m.mismatches.len(), 1, "0.97 against 0.9701");
        assert_eq!((m.mismatches[0].1, m.mismatches[0].2), (0.97, 0.9701));
        let imported = now.last().unwrap();
        assert_eq!((imported.mix, imported.accuracy), (Mix::new(5, 1), 0.96));
        assert_eq!(imported.imported_from.as_deref(), Some(dir.path().display().to_string().as_str()));
    }

    #[test]
    fn generators_read_back_from_their_rows_of_every_family_and_age() {
        let unet = GenId {
            family: "diffusion".into(),
            arch: "unet".into(),
            preset: String::new(),
            seed: 2,
            blake3: "cd".into(),
        };
        for id in [gen(), unet] {
            let mut o = obs(Mix::new(1, 1), 0, 0.9);
            o.generator = Some(id.clone());
            assert_eq!(generator_of_row(&ResultRow::of(&o)).unwrap().id, id);
        }
        // A row written before the family/arch/preset columns: the preset is the label's.
        let mut old = ResultRow::of(&obs(Mix::new(1, 1), 0, 0.9));
        (old.generator, old.family, old.arch, old.preset) =
            ("default, G seed 0".into(), "".into(), "".into(), "".into());
        let id = generator_of_row(&old).unwrap().id;
        assert_eq!((id.preset.as_str(), id.arch.as_str(), id.seed), ("default", "", 0));
    }

    #[test]
    fn a_prior_generator_unknown_to_this_run_is_read_from_its_row() {
        let dir = prior_dir(&[obs(Mix::new(0, 1), 0, 0.8), obs(Mix::new(0, 1), 1, 0.81)]);
        let prior = Prior::read(dir.path()).unwrap();
        let (mut now, mut gens) = (Vec::new(), BTreeMap::new());
        let m = prior.merge_into(&mut now, &mut gens, false).unwrap();
        let from_rows = |gens: &BTreeMap<GenId, GeneratorInfo>| gens.values().filter(|g| g.from_results_csv).count();
        assert_eq!((m.imported, from_rows(&gens)), (2, 1), "one generator, counted once");
        let g = &gens[&gen()];
        assert!(g.from_results_csv && g.fid.is_none(), "{g:?}");
        assert!(now.iter().all(|o| o.generator.as_ref() == Some(&gen())));
        // One the new run has stays the new run's (its artifacts are here).
        let mut gens = BTreeMap::from([(gen(), info(gen()))]);
        prior.merge_into(&mut Vec::new(), &mut gens, false).unwrap();
        assert_eq!(from_rows(&gens), 0);
        assert!(!gens[&gen()].from_results_csv);
    }
}

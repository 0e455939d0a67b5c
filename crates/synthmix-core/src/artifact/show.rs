//! Readable descriptions of any artifact (`synthmix show FILE`).

use std::fmt::Write as _;
use std::path::Path;

use super::{checkpoint, detect, image_set, provenance, st, Kind};
use crate::error::{IoContext, Result};

/// Text describing the artifact at `path`: kind, shapes, metadata, and a class
/// histogram for image sets; provenance records as JSON.
pub fn describe(path: &Path) -> Result<String> {
    let mut out = String::new();
    match detect(path)? {
        Kind::Provenance => {
            out = provenance::read(path)?.to_json();
            out.push('\n');
        }
        Kind::ImageSet => {
            let set = image_set::read(path)?;
            let _ = writeln!(out, "{}: image-set", path.display());
            let _ = writeln!(out, "  images   U8 [{}, {}, {}, {}]", set.len(), set.shape.c, set.shape.h, set.shape.w);
            let _ = writeln!(out, "  labels   U8 [{}]", set.len());
            let _ = writeln!(out, "  dataset  {}", set.meta.dataset);
            let _ = writeln!(out, "  split    {}", set.meta.split);
            let _ = writeln!(out, "  source   {}", set.meta.source.as_str());
            let _ = writeln!(out, "  classes  {}", set.num_classes);
            for (k, v) in set.meta.records_flat() {
                let _ = writeln!(out, "  {k} = {v}");
            }
            let names = set.class_names();
            let _ = writeln!(out, "  class histogram:");
            for (c, n) in set.class_histogram().iter().enumerate() {
                let _ = writeln!(out, "    {c:>3} {:<12} {n}", names.get(c).map(String::as_str).unwrap_or(""));
            }
        }
        Kind::Checkpoint(_) => {
            let ck = checkpoint::read(path, None)?;
            let _ = writeln!(out, "{}: {} checkpoint", path.display(), ck.meta.kind);
            let _ = writeln!(out, "  arch     {}", ck.meta.arch);
            let _ = writeln!(out, "  dataset  {}", ck.meta.dataset);
            let _ = writeln!(out, "  epoch    {}", ck.meta.epoch);
            let _ = writeln!(out, "  config   {}", ck.meta.config);
            for (k, v) in ck.meta.records_flat() {
                let _ = writeln!(out, "  {k} = {v}");
            }
            let total: usize = ck.weights.values().map(|(_, v)| v.len()).sum();
            let _ = writeln!(out, "  tensors ({} parameters):", total);
            for (name, (shape, _)) in &ck.weights {
                let _ = writeln!(out, "    {name:<32} F32 {shape:?}");
            }
        }
        Kind::Safetensors(kind) => {
            let bytes = std::fs::read(path).at(path)?;
            let tensors = st::parse(path, &bytes)?;
            let meta = st::metadata_of(path, &bytes)?;
            let _ =
                writeln!(out, "{}: safetensors ({})", path.display(), kind.as_deref().unwrap_or("no synthmix kind"));
            for (k, v) in &meta {
                let _ = writeln!(out, "  {k} = {v}");
            }
            let mut names: Vec<_> = tensors.tensors();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, view) in names {
                let _ = writeln!(out, "    {name:<32} {:?} {:?}", view.dtype(), view.shape());
            }
        }
    }
    Ok(out)
}

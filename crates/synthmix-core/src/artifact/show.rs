//! Readable descriptions of any artifact (`synthmix show FILE`).

use std::fmt::Write as _;
use std::path::Path;

use super::{checkpoint, detect, image_set, provenance, st, Kind};
use crate::error::{IoContext, Result};

/// Text describing the artifact at `path`: kind, shapes, metadata, and a class
/// histogram for image sets; provenance records as JSON. Names and metadata
/// come from files anyone may have written: control characters in them are
/// shown escaped ([`crate::terminal`]), the JSON kept valid.
pub fn describe(path: &Path) -> Result<String> {
    let mut out = String::new();
    match detect(path)? {
        Kind::Provenance => {
            out = crate::terminal::escape_json(&provenance::read(path)?.to_json()).into_owned();
            out.push('\n');
        }
        Kind::ImageSet => {
            let set = image_set::read(path)?;
            let _ = writeln!(out, "{}: image-set", e(&path.display()));
            let _ = writeln!(out, "  images   U8 [{}, {}, {}, {}]", set.len(), set.shape.c, set.shape.h, set.shape.w);
            let _ = writeln!(out, "  labels   U8 [{}]", set.len());
            let _ = writeln!(out, "  dataset  {}", e(&set.meta.dataset));
            let _ = writeln!(out, "  split    {}", e(&set.meta.split));
            let _ = writeln!(out, "  source   {}", set.meta.source.as_str());
            let _ = writeln!(out, "  classes  {}", set.num_classes);
            for (k, v) in set.meta.records_flat() {
                let _ = writeln!(out, "  {} = {}", e(&k), e(&v));
            }
            let names = set.class_names();
            let _ = writeln!(out, "  class histogram:");
            for (c, n) in set.class_histogram().iter().enumerate() {
                let _ = writeln!(out, "    {c:>3} {:<12} {n}", e(&names.get(c).map(String::as_str).unwrap_or("")));
            }
        }
        Kind::Checkpoint(_) => {
            let ck = checkpoint::read(path, None)?;
            let _ = writeln!(out, "{}: {} checkpoint", e(&path.display()), e(&ck.meta.kind));
            let _ = writeln!(out, "  arch     {}", e(&ck.meta.arch));
            let _ = writeln!(out, "  dataset  {}", e(&ck.meta.dataset));
            let _ = writeln!(out, "  epoch    {}", ck.meta.epoch);
            let _ = writeln!(out, "  config   {}", e(&ck.meta.config));
            for (k, v) in ck.meta.records_flat() {
                let _ = writeln!(out, "  {} = {}", e(&k), e(&v));
            }
            let total: usize = ck.weights.values().map(|(_, v)| v.len()).sum();
            let _ = writeln!(out, "  tensors ({} parameters):", total);
            for (name, (shape, _)) in &ck.weights {
                let _ = writeln!(out, "    {:<32} F32 {shape:?}", e(name));
            }
        }
        Kind::Safetensors(kind) => {
            let bytes = super::input::read(path).at(path)?;
            let tensors = st::parse(path, &bytes)?;
            let meta = st::metadata_of(path, &bytes)?;
            let kind = kind.as_deref().unwrap_or("no synthmix kind");
            let _ = writeln!(out, "{}: safetensors ({})", e(&path.display()), e(&kind));
            for (k, v) in &meta {
                let _ = writeln!(out, "  {} = {}", e(&k), e(&v));
            }
            let mut names: Vec<_> = tensors.tensors();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, view) in names {
                let _ = writeln!(out, "    {:<32} {:?} {:?}", e(&name), view.dtype(), view.shape());
            }
        }
    }
    Ok(out)
}

/// Any displayable text as printable: control characters escaped.
fn e(text: &impl std::fmt::Display) -> String {
    crate::terminal::escape(&text.to_string()).into_owned()
}

//! What the generator trainers' `STEM.optim.safetensors` files share besides
//! their tensors: the kind and format, the epoch, the run's identity, the
//! log so far, the best FID and the saved epoch's quality. `gan-train` and
//! `dpm-train` add their own step counters and tensors (train/gan/state.rs,
//! train/dpm/state.rs).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::st;
use crate::error::{Error, Result};

/// Little-endian bytes of an f32 tensor, for [`st::TensorBytes`].
pub(crate) fn f32_bytes(v: &[f32]) -> Cow<'static, [u8]> {
    Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// The fields every generator state holds.
pub(crate) struct Common {
    pub epoch: usize,
    pub identity: serde_json::Value,
    pub log_csv: String,
    pub best: Option<(usize, f64)>,
    /// The saved epoch's FID and recognition, if it measured them.
    pub quality: Option<(f64, f64)>,
}

impl Common {
    /// The metadata of a state of `kind` holding these fields.
    pub fn meta(&self, kind: &str) -> BTreeMap<String, String> {
        let mut meta = BTreeMap::new();
        meta.insert(crate::artifact::meta::KIND.to_string(), kind.to_string());
        meta.insert(crate::artifact::meta::FORMAT.to_string(), crate::artifact::FORMAT_VERSION.to_string());
        meta.insert("epoch".to_string(), self.epoch.to_string());
        meta.insert("identity".to_string(), self.identity.to_string());
        meta.insert("log_csv".to_string(), self.log_csv.clone());
        if let Some((e, f)) = self.best {
            meta.insert("best_epoch".to_string(), e.to_string());
            // Exact f64 bits, so a resumed run compares FIDs as an uninterrupted one.
            meta.insert("best_fid_bits".to_string(), f.to_bits().to_string());
        }
        crate::train::stop::put_quality(&mut meta, self.quality);
        meta
    }

    /// The fields of a state's metadata (its kind checked by [`metadata`]).
    pub fn read(path: &Path, meta: &BTreeMap<String, String>) -> Result<Common> {
        let identity = serde_json::from_str(st::meta_get(path, meta, "identity")?)
            .map_err(|e| Error::format(path, format!("metadata identity is not JSON: {e}")))?;
        let best = match meta.get("best_epoch") {
            Some(_) => {
                Some((num(path, meta, "best_epoch")? as usize, f64::from_bits(num(path, meta, "best_fid_bits")?)))
            }
            None => None,
        };
        Ok(Common {
            epoch: num(path, meta, "epoch")? as usize,
            identity,
            log_csv: st::meta_get(path, meta, "log_csv")?.to_string(),
            best,
            quality: crate::train::stop::get_quality(path, meta)?,
        })
    }
}

/// The metadata of a state file's `bytes`, refused unless its kind is `kind`.
pub(crate) fn metadata(path: &Path, bytes: &[u8], kind: &str) -> Result<BTreeMap<String, String>> {
    let meta = st::metadata_of(path, bytes)?;
    st::expect_kind(path, &meta, &[kind])?;
    Ok(meta)
}

/// A whole-number metadata entry.
pub(crate) fn num(path: &Path, meta: &BTreeMap<String, String>, k: &str) -> Result<u64> {
    st::meta_get(path, meta, k)?.parse().map_err(|_| Error::format(path, format!("metadata {k} is not a number")))
}

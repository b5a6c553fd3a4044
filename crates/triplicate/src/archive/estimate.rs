//! `archive create --estimate`: what each part of an archive would take, raw and
//! compressed (from a sample), without writing anything.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::create::{Request, image_folders, section_sources, select_folders};
use super::{Kind, Result, io_err};
use crate::home::Triplicate;

/// What one part of an archive would take.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// `core`, a section's name, or a date folder's key.
    pub name: String,
    pub description: String,
    pub files: usize,
    pub raw: u64,
    /// Estimated from compressing a sample (up to 256 KiB from each of up to 32 files).
    pub compressed: u64,
}

/// `archive create --estimate`: each part's raw size and estimated compressed size;
/// nothing is written. Config: the core files, then each section asked for. Images:
/// each date folder asked for (all by default).
pub fn estimate(t: &Triplicate, request: &Request) -> Result<Vec<Estimate>> {
    match request.kind {
        Kind::Config => {
            let core: Vec<PathBuf> = vec![t.home.config.clone(), t.home.catalog.clone()];
            let mut out = vec![estimate_files(
                "core",
                "config.toml, the catalog, the destinations",
                &core,
            )?];
            for name in &request.sections {
                let files: Vec<PathBuf> = section_sources(t, name)?
                    .into_iter()
                    .map(|s| s.from)
                    .collect();
                let description = t.config.archive.sections[name].description.clone();
                out.push(estimate_files(name, &description, &files)?);
            }
            Ok(out)
        }
        Kind::Images => select_folders(image_folders(t)?, &request.folders)?
            .into_iter()
            .map(|(key, sources)| {
                let files: Vec<PathBuf> = sources.into_iter().map(|s| s.from).collect();
                estimate_files(&key, "", &files)
            })
            .collect(),
    }
}

fn estimate_files(name: &str, description: &str, files: &[PathBuf]) -> Result<Estimate> {
    const SAMPLE: u64 = 256 * 1024;
    let mut raw = 0;
    for f in files {
        raw += fs::metadata(f).map_err(io_err("cannot stat", f))?.len();
    }
    // Every n-th file, up to 32 of them, so that a sample spans the part.
    let step = files.len().div_ceil(32).max(1);
    let mut sampled = 0u64;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    for f in files.iter().step_by(step) {
        let file = File::open(f).map_err(io_err("cannot read", f))?;
        let mut part = Vec::new();
        file.take(SAMPLE)
            .read_to_end(&mut part)
            .map_err(io_err("cannot read", f))?;
        sampled += part.len() as u64;
        gz.write_all(&part).map_err(io_err("cannot compress", f))?;
    }
    let compressed_sample = gz.finish().map(|v| v.len() as u64).unwrap_or(sampled);
    let ratio = if sampled == 0 {
        1.0
    } else {
        compressed_sample as f64 / sampled as f64
    };
    Ok(Estimate {
        name: name.into(),
        description: description.into(),
        files: files.len(),
        raw,
        compressed: (raw as f64 * ratio.min(1.0)).round() as u64,
    })
}

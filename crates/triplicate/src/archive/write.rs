//! Writing an archive: the manifest first, then every file, compressed on every core,
//! through a temporary name that is synced and renamed only when complete.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use gzp::ZWriter;

use super::{ArchiveError, Compression, MANIFEST, Manifest, ManifestFile, Result, io_err};
use crate::photo::ContentHash;
use crate::progress::{Event, Progress};

/// A file to put in an archive: where it is read from, and its path inside.
pub(crate) struct Source {
    pub from: PathBuf,
    pub path: String,
    /// Its hash and size, when known already (from the catalog): it is not read twice,
    /// and the bytes archived are still checked against it.
    pub known: Option<(ContentHash, u64)>,
}

/// What a long write reports to, and the flag that stops it.
#[derive(Clone, Copy)]
pub(crate) struct Work<'a> {
    pub progress: &'a dyn Progress,
    pub cancel: &'a AtomicBool,
}

impl Work<'_> {
    pub fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(ArchiveError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Fills the manifest's file list: known hashes as they are, the others read and
/// hashed (reported as bytes of the current stage).
pub(crate) fn hash_sources(manifest: &mut Manifest, sources: &[Source], work: Work) -> Result<()> {
    let unknown: u64 = sources
        .iter()
        .filter(|s| s.known.is_none())
        .map(|s| fs::metadata(&s.from).map(|m| m.len()).unwrap_or(0))
        .sum();
    work.progress
        .event(&Event::StageBytesPlanned { bytes: unknown });
    for s in sources {
        work.check_cancel()?;
        let (hash, size) = match s.known {
            Some(known) => known,
            None => {
                let mut f = File::open(&s.from).map_err(io_err("cannot read", &s.from))?;
                let mut counted = Counted::new(&mut f, work);
                ContentHash::of_reader(&mut counted).map_err(|e| stopped_or(work, e, &s.from))?
            }
        };
        manifest.files.push(ManifestFile {
            path: s.path.clone(),
            size,
            blake3: hash.to_hex(),
        });
    }
    Ok(())
}

/// Writes the manifest and every source into `<dir>/<kind>-<id>.tar.gz` (or
/// `.tar.zst`): through a temporary name, synced, then renamed. Every file is hashed
/// again as it is written; one that changed since it was hashed fails the archive.
pub(crate) fn write_archive(
    dir: &Path,
    manifest: &Manifest,
    sources: &[Source],
    compression: Compression,
    work: Work,
) -> Result<PathBuf> {
    let name = manifest.file_name(compression);
    let file = dir.join(&name);
    let tmp = dir.join(format!(".{name}.partial"));
    work.progress.event(&Event::StageBytesPlanned {
        bytes: manifest.total_size(),
    });
    let result = (|| {
        let out = io::BufWriter::with_capacity(
            1 << 20,
            // Private: an archive holds the catalog, the configuration and photos.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io_err("cannot create", &tmp))?,
        );
        let mut tar = tar::Builder::new(Encoder::new(out, compression));
        let json = serde_json::to_vec_pretty(manifest).expect("JSON of plain values");
        append(&mut tar, MANIFEST, json.len() as u64, 0o600, &mut &json[..])
            .map_err(io_err("cannot write", &tmp))?;
        for (s, listed) in sources.iter().zip(&manifest.files) {
            work.check_cancel()?;
            let mut f = File::open(&s.from).map_err(io_err("cannot read", &s.from))?;
            // Each entry keeps its file's permission bits (never execute).
            let mode = f
                .metadata()
                .map(|m| crate::destination::Likeness::file_mode(m.permissions().mode()))
                .unwrap_or(0o600);
            // What is written must be what was hashed.
            let mut checked = Checked {
                inner: Counted::new(&mut f, work),
                hasher: blake3::Hasher::new(),
                read: 0,
            };
            append(&mut tar, &s.path, listed.size, mode, &mut checked)
                .map_err(|e| stopped_or(work, e, &s.from))?;
            if checked.read != listed.size
                || checked.hasher.finalize().to_hex().as_str() != listed.blake3
            {
                return Err(ArchiveError::Invalid {
                    path: s.from.clone(),
                    message: "the file changed while it was archived; try again".into(),
                });
            }
        }
        let encoder = tar.into_inner().map_err(io_err("cannot write", &tmp))?;
        encoder.finish().map_err(io_err("cannot write", &tmp))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err("cannot sync", &tmp))?;
        fs::rename(&tmp, &file).map_err(io_err("cannot rename", &tmp))?;
        crate::fsutil::sync_dir(dir).map_err(io_err("cannot sync", dir))
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(file)
}

/// [`ArchiveError::Cancelled`] when the work was stopped, else the I/O error.
fn stopped_or(work: Work, e: io::Error, path: &Path) -> ArchiveError {
    if work.cancel.load(Ordering::Relaxed) {
        ArchiveError::Cancelled
    } else {
        io_err("cannot archive", path)(e)
    }
}

/// The compressor: gzip or zstd, each on every core.
enum Encoder {
    Gzip(Box<gzp::par::compress::ParCompress<'static, gzp::deflate::Gzip, io::BufWriter<File>>>),
    Zstd(zstd::Encoder<'static, io::BufWriter<File>>),
}

impl Encoder {
    fn new(out: io::BufWriter<File>, compression: Compression) -> Encoder {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        match compression {
            Compression::Gzip => Encoder::Gzip(Box::new(
                gzp::par::compress::ParCompressBuilder::<gzp::deflate::Gzip>::new()
                    .num_threads(threads)
                    .expect("at least one thread")
                    .compression_level(gzp::Compression::new(6))
                    .from_writer(out),
            )),
            Compression::Zstd => {
                let mut z = zstd::Encoder::new(out, 3).expect("zstd level 3 is valid");
                // zstd runs its workers beside this thread, which feeds them.
                let _ = z.multithread(threads as u32);
                Encoder::Zstd(z)
            }
        }
    }

    /// Ends the stream and flushes it to the file.
    fn finish(self) -> io::Result<()> {
        let mut out = match self {
            Encoder::Gzip(mut gz) => gz.finish().map_err(io::Error::other)?,
            Encoder::Zstd(z) => z.finish()?,
        };
        out.flush()
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(gz) => gz.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(gz) => gz.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}

/// A reader that reports the bytes passing through it (a megabyte at a time), and
/// fails once the work is cancelled.
struct Counted<'a, R> {
    inner: &'a mut R,
    work: Work<'a>,
    pending: u64,
}

impl<'a, R> Counted<'a, R> {
    fn new(inner: &'a mut R, work: Work<'a>) -> Self {
        Counted {
            inner,
            work,
            pending: 0,
        }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.work.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped"));
        }
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 1 << 20 || (n == 0 && self.pending > 0) {
            self.work.progress.event(&Event::StageBytes {
                bytes: self.pending,
            });
            self.pending = 0;
        }
        Ok(n)
    }
}

/// A reader that hashes and counts what passes through it.
struct Checked<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Appends a regular file of `size` bytes and `mode`. A file shorter than `size` fails.
pub(crate) fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    mode: u32,
    data: &mut dyn Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    tar.append_data(&mut header, path, data.take(size))
}

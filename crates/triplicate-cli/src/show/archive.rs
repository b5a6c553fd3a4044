//! Archives: created, listed, shown, imported, restored, copied, pruned, verified and
//! estimated.

use std::fmt::Write as _;

use indicatif::HumanBytes;

pub fn archive_created(w: &mut String, c: &triplicate::archive::Created) {
    say!(
        w,
        "Archived {} ({} files, {}) into {} ({})",
        c.manifest.kind.as_str(),
        c.manifest.files.len(),
        HumanBytes(c.manifest.total_size()),
        c.file.display(),
        HumanBytes(c.size)
    );
    for warning in &c.warnings {
        say!(w, "warning: {warning}");
    }
    say!(w, "id {}", c.id);
}

pub fn archives(w: &mut String, list: &[triplicate::archive::Listed], folder: &std::path::Path) {
    if list.is_empty() {
        say!(
            w,
            "No archives in {}. Make one with `triplicate archive create --kind config`.",
            folder.display()
        );
    }
    let mut kind = None;
    for a in list {
        if kind != Some(a.kind) {
            say!(w, "{}:", a.kind.as_str());
            kind = Some(a.kind);
        }
        say!(
            w,
            "  {:<26} {}  {:>10} ({} in {} files)  {}{}",
            a.id,
            a.created,
            HumanBytes(a.size).to_string(),
            HumanBytes(a.content_size),
            a.files,
            a.node,
            if a.pinned { "  pinned" } else { "" }
        );
    }
}

/// `archive info`: where the archive is, and its manifest.
#[derive(serde::Serialize)]
pub struct ArchiveInfo {
    pub archive: triplicate::archive::Listed,
    pub manifest: triplicate::archive::Manifest,
}

pub fn archive_info(w: &mut String, info: &ArchiveInfo) {
    let (a, m) = (&info.archive, &info.manifest);
    say!(
        w,
        "Archive {} ({}), node {}, created {} by {}{}",
        m.id,
        m.kind.as_str(),
        m.node,
        m.created,
        m.tool,
        if a.pinned { ", pinned" } else { "" }
    );
    say!(w, "File: {} ({})", a.file.display(), HumanBytes(a.size));
    if !m.sections.is_empty() {
        say!(w, "Sections: {}", m.sections.join(", "));
    }
    if !m.folders.is_empty() {
        say!(w, "Folders: {}", m.folders.join(", "));
    }
    for f in &m.files {
        say!(
            w,
            "  {:<40} {:>10}  {}",
            f.path,
            HumanBytes(f.size).to_string(),
            &f.blake3[..16]
        );
    }
    say!(w, "{} files, {}", m.files.len(), HumanBytes(m.total_size()));
    if let Some(log) = &a.log {
        say!(w, "Log: {}", log.display());
    }
}

pub fn archive_imported(w: &mut String, a: &triplicate::archive::Listed) {
    say!(
        w,
        "Imported {} archive {} ({} files, {}): every file matches its manifest.",
        a.kind.as_str(),
        a.id,
        a.files,
        HumanBytes(a.content_size)
    );
    say!(w, "Now at {}", a.file.display());
}

pub fn archive_restored(w: &mut String, r: &triplicate::archive::Restored) {
    if let Some(kept) = &r.safety_archive {
        say!(w, "The config as it was is kept as archive {kept}.");
    }
    for p in &r.written {
        say!(w, "  restored {}", p.display());
    }
    say!(
        w,
        "Restored {} files ({}) from archive {}; {} already in place.",
        r.written.len(),
        HumanBytes(r.bytes),
        r.id,
        r.unchanged
    );
}

pub fn archives_at(w: &mut String, list: &Vec<triplicate::archive::AtDestination>) {
    if list.is_empty() {
        say!(
            w,
            "No archives there. Copy one with `triplicate archive copy ID --dest NAME`."
        );
    }
    for a in list {
        say!(w, "  {:<56} {:>10}", a.name, HumanBytes(a.size).to_string());
    }
    if let Some(a) = list.first() {
        say!(
            w,
            "Bring one back with `triplicate archive import --dest {} NAME`.",
            a.dest
        );
    }
}

pub fn archive_copied(w: &mut String, c: &triplicate::archive::Copied) {
    say!(
        w,
        "Archive {} {} {} as {} ({}), and the copy read back matches.",
        c.id,
        if c.already_there {
            "was already at"
        } else {
            "copied to"
        },
        c.dest,
        c.key,
        HumanBytes(c.size)
    );
}

pub fn archive_pruned(w: &mut String, p: &triplicate::archive::Pruned) {
    let verb = if p.dry_run { "would delete" } else { "deleted" };
    for a in &p.removed {
        say!(
            w,
            "  {verb} {} {} ({})",
            a.kind.as_str(),
            a.id,
            HumanBytes(a.size)
        );
    }
    for log in &p.stale_logs {
        say!(w, "  {verb} {} (an archive never finished)", log.display());
    }
    say!(
        w,
        "Kept {} archives, {verb} {}.",
        p.kept.len(),
        p.removed.len()
    );
}

pub fn archive_verified(w: &mut String, v: &triplicate::archive::Verified) {
    if v.ok() {
        say!(
            w,
            "Archive {}: all {} files match the manifest ({}).",
            v.id,
            v.files,
            HumanBytes(v.bytes)
        );
    } else {
        say!(w, "Archive {}: {} problems:", v.id, v.problems.len());
        for p in &v.problems {
            say!(w, "  {p}");
        }
    }
}

pub fn archive_estimate(w: &mut String, parts: &Vec<triplicate::archive::Estimate>) {
    say!(
        w,
        "{:<24} {:>7} {:>12} {:>14}  what",
        "part",
        "files",
        "raw",
        "compressed ~"
    );
    let (mut raw, mut compressed) = (0, 0);
    for p in parts {
        raw += p.raw;
        compressed += p.compressed;
        say!(
            w,
            "{:<24} {:>7} {:>12} {:>14}  {}",
            p.name,
            p.files,
            HumanBytes(p.raw).to_string(),
            HumanBytes(p.compressed).to_string(),
            p.description
        );
    }
    say!(
        w,
        "{:<24} {:>7} {:>12} {:>14}",
        "total",
        "",
        HumanBytes(raw).to_string(),
        HumanBytes(compressed).to_string()
    );
}

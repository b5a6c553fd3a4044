//! A card ingest and its safe-to-format verdict; an ASC MHL check.

use std::fmt::Write as _;

use indicatif::HumanBytes;

pub fn ingest(w: &mut String, r: &triplicate::ingest::IngestReport) {
    say!(
        w,
        "Card {} ({}): {} files, {}; {} copied into library '{}', {} there already.",
        r.label,
        r.card,
        r.files,
        HumanBytes(r.bytes),
        r.copied,
        r.library,
        r.already
    );
    if r.culled > 0 {
        say!(
            w,
            "{} files you removed from the library since the last ingest were left out (`--again` brings them back); their backups were made sure of.",
            r.culled
        );
    }
    for d in &r.destinations {
        if d.state.is_ok() {
            say!(
                w,
                "{:>12}: {} written and verified, {} there already, {} failed",
                d.name,
                d.written,
                d.already,
                d.failed
            );
        } else {
            say!(w, "{:>12}: skipped ({})", d.name, d.state);
        }
    }
    let mut by_copies = std::collections::BTreeMap::new();
    for f in &r.file_copies {
        *by_copies.entry(f.copies.len()).or_insert(0u64) += 1;
    }
    let counts: Vec<String> = by_copies
        .iter()
        .rev()
        .map(|(copies, files)| format!("{files} with {copies} verified copies"))
        .collect();
    say!(w, "Files: {}.", counts.join(", "));
    for m in &r.manifests {
        match (&m.generation, &m.note) {
            (Some(g), _) => say!(w, "{:>12}: ASC MHL {g}", m.place),
            (None, Some(note)) => say!(w, "{:>12}: no ASC MHL ({note})", m.place),
            (None, None) => {}
        }
    }
    for p in &r.problems {
        say!(w, "  - [{}] {}", p.class.as_str(), p.message);
    }
    verdict(w, &r.verdict);
}

/// The verdict on the card: safe to format, or which files keep it and why.
fn verdict(w: &mut String, v: &triplicate::ingest::Verdict) {
    if v.safe {
        say!(w, "SAFE TO FORMAT: {}.", v.rule);
    } else {
        say!(w, "NOT SAFE TO FORMAT: the rule is that {}.", v.rule);
        for group in &v.groups {
            let n = group.files.len();
            say!(
                w,
                "  {} {}: {}",
                n,
                if n == 1 { "file" } else { "files" },
                group.reason
            );
            for file in group.files.iter().take(20) {
                say!(w, "    - {file}");
            }
            if n > 20 {
                say!(w, "    … and {} more", n - 20);
            }
        }
        say!(
            w,
            "Keep the card. Run `triplicate ingest` again once the destinations are back to finish."
        );
    }
}

pub fn mhl_check(w: &mut String, c: &triplicate::ingest::mhl::FolderCheck) {
    say!(
        w,
        "{}: {} files verified against {} ASC MHL generation(s).",
        c.folder,
        c.verified.len(),
        c.generations
    );
    for m in &c.failed {
        say!(
            w,
            "  FAILED   {} ({} {} expected, {} found)",
            m.path,
            m.format,
            m.expected,
            m.found
        );
    }
    for p in &c.missing {
        say!(w, "  MISSING  {p}");
    }
    for p in &c.new {
        say!(w, "  NEW      {p} (not in the history)");
    }
    if let Some(g) = &c.recorded {
        say!(w, "The check was recorded as {g}.");
    }
    if c.ok() {
        say!(w, "OK: every file matches its original hash.");
    } else {
        say!(
            w,
            "NOT OK: {} changed, {} missing, {} not in the history.",
            c.failed.len(),
            c.missing.len(),
            c.new.len()
        );
    }
}

//! The safe-to-format verdict, from what was proven: the one coverage rule
//! ([`crate::policy::count`]) over each file's verified copies, one per device, none on
//! the card's own; a file that could not be read is never safe.

use super::*;

/// What the verdict is judged from, besides each file's outcome.
pub(super) struct Judged<'a> {
    pub library: &'a LibraryConfig,
    /// The medium the library is on.
    pub media: MediaKind,
    pub library_device: &'a DeviceId,
    pub card_device: &'a DeviceId,
    pub writers: &'a [Writer],
    /// Verified copies each file needs (the larger of `safe_copies` and `safe_devices`).
    pub needed: u32,
}

/// Each file's copies as the report lists them, and the verdict.
pub(super) fn judge(
    j: &Judged<'_>,
    plans: &[Planned<'_>],
    outcomes: &[Outcome],
    unreadable: &[(RelPath, String)],
) -> (Vec<IngestedFile>, Verdict) {
    let mut file_copies = Vec::new();
    let mut failing: Vec<(String, String)> = Vec::new();
    // Holders are named as `status` names them, so that both give a reason in the same
    // words; the report lists them by their plain names.
    let library_holder = format!("library '{}'", j.library.name);
    let dest_names: Vec<String> = j
        .writers
        .iter()
        .map(|w| format!("'{}'", w.config.name))
        .collect();
    for (planned, outcome) in plans.iter().zip(outcomes) {
        let (copies, why_not) = j.file(&library_holder, &dest_names, planned, outcome);
        if let Some(why) = why_not {
            failing.push((planned.file.rel.to_string(), why));
        }
        file_copies.push(copies);
    }
    // What could not even be listed is never safe.
    for (path, reason) in unreadable {
        failing.push((path.to_string(), reason.clone()));
    }
    let mut groups: Vec<ReasonGroup> = Vec::new();
    for (path, reason) in &failing {
        match groups.iter_mut().find(|g| &g.reason == reason) {
            Some(g) => g.files.push(path.clone()),
            None => groups.push(ReasonGroup {
                reason: reason.clone(),
                files: vec![path.clone()],
            }),
        }
    }
    let reasons: Vec<String> = failing
        .iter()
        .map(|(path, reason)| format!("{path}: {reason}"))
        .collect();
    let verdict = Verdict {
        safe: reasons.is_empty(),
        rule: format!(
            "every file on the card (but the litter cameras recreate) has at least {} verified copies, each on a different device, none of them the card's",
            j.needed
        ),
        reasons,
        groups,
    };
    (file_copies, verdict)
}

impl Judged<'_> {
    /// One file's copies as the coverage rule counts them (one per device, none on the
    /// card's), and why it is not safe, if it is not.
    /// `library_holder` and `dest_names` are the holders' names as `status` gives them.
    fn file(
        &self,
        library_holder: &str,
        dest_names: &[String],
        planned: &Planned<'_>,
        outcome: &Outcome,
    ) -> (IngestedFile, Option<String>) {
        let mut holders: Vec<(Holder<'_>, &str)> = Vec::new();
        if outcome.library_path.is_some() {
            let library = Holder {
                name: library_holder,
                device: self.library_device,
                media: self.media,
                offsite: false,
            };
            holders.push((library, "library"));
        }
        for (w, name) in self
            .writers
            .iter()
            .zip(dest_names)
            .filter(|(w, _)| outcome.verified_at.contains(&w.config.name))
        {
            let copy = Holder {
                name,
                device: &w.device,
                media: w.config.media,
                offsite: w.config.is_offsite(),
            };
            holders.push((copy, &w.config.name));
        }
        let shown: Vec<Holder<'_>> = holders.iter().map(|(h, _)| *h).collect();
        let counted = crate::policy::count(&shown, &[(self.card_device, "the card")]);
        let devices = counted.coverage.copies;
        let copies: Vec<String> = holders
            .iter()
            .filter(|(h, _)| counted.counted.iter().any(|c| c == h.name))
            .map(|(_, plain)| plain.to_string())
            .collect();
        let why_not = if let Some(error) = &outcome.card_error {
            Some(error.clone())
        } else if devices < self.needed {
            Some(format!(
                "{} verified {} on {} {}{}{}",
                devices,
                if devices == 1 { "copy" } else { "copies" },
                devices,
                if devices == 1 { "device" } else { "devices" },
                if counted.counted.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", counted.counted.join(", "))
                },
                counted
                    .not_counted
                    .iter()
                    .map(|n| format!("; the copy at {} is {}", n.name, n.reason))
                    .collect::<String>()
            ))
        } else {
            None
        };
        let file = IngestedFile {
            card_path: planned.file.rel.clone(),
            library_path: outcome.library_path.clone(),
            size: planned.file.size,
            blake3: outcome.learned.map(|l| l.blake3.to_hex()),
            xxh64: outcome.learned.map(|l| format!("{:016x}", l.xxh64)),
            copies,
            devices,
        };
        (file, why_not)
    }
}

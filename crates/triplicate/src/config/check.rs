//! What serde cannot check: names, paths, overlaps between libraries and
//! destinations, GRID peers. Each problem comes back with where it is (a key path,
//! which [`super::locate`] turns into a line) and what it is.

use super::Config;
use super::locate::Step;

impl Config {
    /// Checks what serde cannot: names, paths, templates, overlaps. Returns where the
    /// problem is (a key path) and what it is.
    pub(super) fn check(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::Key;
        let at = |steps: &[Step]| steps.to_vec();
        check_name(&self.node).map_err(|m| (at(&[Key("node")]), m))?;
        if self.policy.copies == 0 || self.policy.media == 0 {
            return Err((
                at(&[Key("policy"), Key("copies")]),
                "copies and media must be at least 1".into(),
            ));
        }
        if self.backup.jobs == 0 || self.backup.jobs > 64 {
            return Err((
                at(&[Key("backup"), Key("jobs")]),
                "jobs must be between 1 and 64".into(),
            ));
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            let missing = if self.server.tls_cert.is_some() {
                "tls_key"
            } else {
                "tls_cert"
            };
            return Err((
                at(&[Key("server"), Key(missing)]),
                "tls_cert and tls_key go together: the certificate and its private key (PEM)"
                    .into(),
            ));
        }
        self.check_grid()?;
        self.check_notify()?;
        self.check_archive()?;
        self.check_libraries()?;
        let p = &self.protection;
        if !(p.mass_change_percent > 0.0 && p.mass_change_percent <= 100.0) {
            return Err((
                at(&[Key("protection"), Key("mass_change_percent")]),
                "must be more than 0 and at most 100".into(),
            ));
        }
        for i in 0..self.destinations.len() {
            self.check_destination(i)?;
        }
        Ok(())
    }

    /// Archive sections: their names, absolute paths with distinct last names.
    fn check_archive(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::Key;
        for (name, section) in &self.archive.sections {
            let here = || vec![Key("archive"), Key("sections")];
            check_name(name).map_err(|m| (here(), m))?;
            let mut bases = std::collections::HashSet::new();
            for p in &section.paths {
                if !p.is_absolute() {
                    return Err((
                        here(),
                        format!("section '{name}': {} must be an absolute path", p.display()),
                    ));
                }
                if !bases.insert(p.file_name()) {
                    return Err((
                        here(),
                        format!(
                            "section '{name}': two paths end in the same name ({})",
                            p.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Libraries: names, absolute paths, none declared twice or inside another.
    fn check_libraries(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::{Index, Key};
        let at = |steps: &[Step]| steps.to_vec();
        for (i, lib) in self.libraries.iter().enumerate() {
            let here = |k| at(&[Key("library"), Index(i), Key(k)]);
            check_name(&lib.name).map_err(|m| (here("name"), m))?;
            if !lib.path.is_absolute() {
                return Err((here("path"), "must be an absolute path".into()));
            }
            for (j, other) in self.libraries[..i].iter().enumerate() {
                if other.name == lib.name {
                    return Err((
                        here("name"),
                        format!("library '{}' is declared twice", lib.name),
                    ));
                }
                if lib.path.starts_with(&other.path) || other.path.starts_with(&lib.path) {
                    return Err((
                        here("path"),
                        format!(
                            "{} overlaps library #{} ({}): photos would be counted twice",
                            lib.path.display(),
                            j + 1,
                            other.path.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The destination at index `i`: name and id unique, site, object lock, encryption
    /// and concurrency settings that fit together, and outside every library.
    fn check_destination(&self, i: usize) -> Result<(), (Vec<Step>, String)> {
        use Step::{Index, Key};
        let at = |steps: &[Step]| steps.to_vec();
        let dest = &self.destinations[i];
        let here = |k| at(&[Key("destination"), Index(i), Key(k)]);
        check_name(&dest.name).map_err(|m| (here("name"), m))?;
        if self.destinations[..i].iter().any(|d| d.name == dest.name) {
            return Err((
                here("name"),
                format!("destination '{}' is declared twice", dest.name),
            ));
        }
        if self.destinations[..i].iter().any(|d| d.id == dest.id) {
            return Err((
                here("id"),
                format!("id {} is used by two destinations", dest.id),
            ));
        }
        if dest.site.trim().is_empty() {
            return Err((here("site"), "must be 'onsite' or a site name".into()));
        }
        if dest.object_lock.is_some() {
            if !matches!(
                dest.target.remote(),
                Some(crate::target::RemoteTarget::S3(_))
            ) {
                return Err((
                    here("object_lock"),
                    "object lock is for S3 destinations (s3://…) only".into(),
                ));
            }
        } else if dest.object_lock_mode.is_some() {
            return Err((
                here("object_lock_mode"),
                "set object_lock (a retention period such as \"30d\") too".into(),
            ));
        }
        if dest.encrypt_to.is_empty()
            && (dest.identity_file.is_some() || dest.passphrase_file.is_some())
        {
            return Err((
                here("encrypt_to"),
                "an identity or passphrase file is set, but no recipients to encrypt to".into(),
            ));
        }
        if dest.concurrency.is_some_and(|n| n == 0 || n > 64) {
            return Err((
                here("concurrency"),
                "concurrency must be between 1 and 64".into(),
            ));
        }
        let root = dest.local_root();
        for lib in self.libraries.iter().filter(|_| !dest.is_remote()) {
            if root.starts_with(&lib.path) || lib.path.starts_with(&root) {
                return Err((
                    here("target"),
                    format!(
                        "{} overlaps library '{}' ({}): a backup must live outside the library",
                        root.display(),
                        lib.name,
                        lib.path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Notification channels: their names, and what each kind needs.
    fn check_notify(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::{Index, Key};
        let channels = &self.notify.channels;
        for (i, channel) in channels.iter().enumerate() {
            let at = |k| vec![Key("notify"), Key("channel"), Index(i), Key(k)];
            check_name(&channel.name).map_err(|m| (at("name"), m))?;
            if channels[..i].iter().any(|c| c.name == channel.name) {
                return Err((
                    at("name"),
                    format!("channel '{}' is declared twice", channel.name),
                ));
            }
            if let Some((key, why)) = channel.problem() {
                return Err((at(key), why));
            }
        }
        Ok(())
    }

    fn check_grid(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::{Index, Key};
        let g = &self.grid;
        let here = |k| vec![Key("grid"), Key(k)];
        if let Some(t) = &g.token
            && t.trim().len() < crate::vocab::MIN_GRID_TOKEN_LEN
        {
            return Err((
                here("token"),
                format!(
                    "the GRID token must be at least {} characters long (`triplicate grid init` makes one)",
                    crate::vocab::MIN_GRID_TOKEN_LEN
                ),
            ));
        }
        if g.site.trim().is_empty() {
            return Err((here("site"), "must be 'onsite' or a site name".into()));
        }
        if let Some(lib) = &g.library
            && self.library(lib).is_none()
        {
            return Err((
                here("library"),
                format!("no library named '{lib}': add it with `triplicate library add`"),
            ));
        }
        if !(g.interval > 0.0 && g.interval <= 3600.0) {
            return Err((
                here("interval"),
                "must be more than 0 and at most 3600 seconds".into(),
            ));
        }
        for (i, peer) in g.peers.iter().enumerate() {
            let at = |k| vec![Key("grid"), Key("peer"), Index(i), Key(k)];
            check_name(&peer.name).map_err(|m| (at("name"), m))?;
            if peer.name == self.node {
                return Err((
                    at("name"),
                    format!("'{}' is this node's own name", peer.name),
                ));
            }
            if g.peers[..i]
                .iter()
                .any(|p| p.name == peer.name || p.id == peer.id)
            {
                return Err((
                    at("name"),
                    format!("peer '{}' is declared twice", peer.name),
                ));
            }
            if !(peer.url.starts_with("http://") || peer.url.starts_with("https://")) {
                return Err((
                    at("url"),
                    format!("'{}' is not an http:// or https:// address", peer.url),
                ));
            }
            if peer.url.starts_with("https://") && peer.fingerprint.is_none() {
                return Err((
                    at("fingerprint"),
                    format!(
                        "peer '{}' is reached over https:// and needs the fingerprint of its certificate (`triplicate grid init` on it shows it)",
                        peer.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

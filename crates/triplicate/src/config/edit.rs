//! Changing the configuration as commands do (`init`, `library add`, `dest add` …):
//! the TOML document is edited in place so that comments and ordering survive, checked
//! exactly as a load would, and replaced atomically.

use std::path::{Path, PathBuf};

use super::*;

/// Appends `table` to the array of tables `key` of `parent` (`[[key]]`).
fn push_into(parent: &mut toml_edit::Table, key: &str, table: toml_edit::Table) {
    let item = parent
        .entry(key)
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(Default::default()));
    if let Some(arr) = item.as_array_of_tables_mut() {
        arr.push(table);
    }
}

fn no_peer(name: &str) -> ConfigError {
    ConfigError::UnknownPeer { name: name.into() }
}

/// The configuration file as an editable document.
pub struct ConfigFile {
    path: PathBuf,
    doc: toml_edit::DocumentMut,
}

impl ConfigFile {
    /// A new configuration for `node`.
    pub fn create(path: &Path, node: &str) -> Result<ConfigFile, ConfigError> {
        if path.exists() {
            return Err(ConfigError::Rejected(format!(
                "{} already exists: this home is initialised (use `library add` or `dest add`)",
                path.display()
            )));
        }
        let text = format!(
            "# Triplicate configuration. Edit freely; `triplicate` keeps your comments.\n\
             node = {}\n\n\
             # A photo is protected when it has this many copies (the library original\n\
             # counts as one), on this many kinds of media, with this many offsite.\n\
             [policy]\ncopies = 3\nmedia = 2\noffsite = 1\n",
            toml_edit::Value::from(node)
        );
        let doc = text.parse().expect("generated config parses");
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn open(path: &Path) -> Result<ConfigFile, ConfigError> {
        // Load first: editing a broken file would only move the error.
        Config::load(path)?;
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let doc = text
            .parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1,
                key: None,
                message: e.to_string(),
            })?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn add_library(&mut self, lib: &LibraryConfig) -> Result<(), ConfigError> {
        let path = lib.path.to_str().ok_or_else(|| {
            ConfigError::Rejected(format!(
                "{} is not valid UTF-8, which TOML cannot hold: rename the folder or link it from a UTF-8 path",
                lib.path.display()
            ))
        })?;
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(&lib.name);
        t["path"] = toml_edit::value(path);
        t["media"] = toml_edit::value(lib.media.as_str());
        self.push_table("library", t);
        Ok(())
    }

    pub fn add_destination(&mut self, d: &DestinationConfig) {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(&d.name);
        t["target"] = toml_edit::value(d.target.as_str());
        t["id"] = toml_edit::value(&d.id);
        t["media"] = toml_edit::value(d.media.as_str());
        t["site"] = toml_edit::value(&d.site);
        t["enabled"] = toml_edit::value(d.enabled);
        t["automatic"] = toml_edit::value(d.automatic);
        t["layout"] = toml_edit::value(d.layout.as_str());
        if let Some(n) = d.concurrency {
            t["concurrency"] = toml_edit::value(n as i64);
        }
        if let Some(b) = &d.bandwidth {
            t["bandwidth"] = toml_edit::value(b.as_str());
        }
        if let Some(path) = &d.credentials_file {
            t["credentials_file"] = toml_edit::value(path.to_string_lossy().as_ref());
        }
        if !d.encrypt_to.is_empty() {
            t["encrypt_to"] = toml_edit::value(
                d.encrypt_to
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<toml_edit::Array>(),
            );
        }
        for (key, path) in [
            ("identity_file", &d.identity_file),
            ("passphrase_file", &d.passphrase_file),
        ] {
            if let Some(path) = path {
                t[key] = toml_edit::value(path.to_string_lossy().as_ref());
            }
        }
        if d.offline {
            t["offline"] = toml_edit::value(true);
        }
        if let Some(every) = &d.refresh_every {
            t["refresh_every"] = toml_edit::value(every.as_str());
        }
        if let Some(lock) = &d.object_lock {
            t["object_lock"] = toml_edit::value(lock.as_str());
        }
        if let Some(mode) = &d.object_lock_mode {
            t["object_lock_mode"] = toml_edit::value(mode.as_str());
        }
        self.push_table("destination", t);
    }

    fn push_table(&mut self, key: &str, table: toml_edit::Table) {
        push_into(self.doc.as_table_mut(), key, table);
    }

    fn destination_index(&self, name: &str) -> Result<usize, ConfigError> {
        self.doc
            .get("destination")
            .and_then(|i| i.as_array_of_tables())
            .and_then(|arr| {
                arr.iter()
                    .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
            })
            .ok_or_else(|| ConfigError::UnknownDestination { name: name.into() })
    }

    /// Forgets a destination. Its data is left exactly as it is.
    pub fn remove_destination(&mut self, name: &str) -> Result<(), ConfigError> {
        let i = self.destination_index(name)?;
        if let Some(arr) = self
            .doc
            .get_mut("destination")
            .and_then(|i| i.as_array_of_tables_mut())
        {
            arr.remove(i);
        }
        Ok(())
    }

    /// Sets any field of a destination; [`ConfigFile::save`] checks the result.
    pub fn set_destination_value(
        &mut self,
        name: &str,
        key: &str,
        value: toml_edit::Value,
    ) -> Result<(), ConfigError> {
        let i = self.destination_index(name)?;
        if let Some(t) = self
            .doc
            .get_mut("destination")
            .and_then(|i| i.as_array_of_tables_mut())
            .and_then(|arr| arr.get_mut(i))
        {
            t[key] = toml_edit::Item::Value(value);
        }
        Ok(())
    }

    /// Removes a field of a destination, so that its default applies.
    pub fn remove_destination_key(&mut self, name: &str, key: &str) -> Result<(), ConfigError> {
        let i = self.destination_index(name)?;
        if let Some(t) = self
            .doc
            .get_mut("destination")
            .and_then(|i| i.as_array_of_tables_mut())
            .and_then(|arr| arr.get_mut(i))
        {
            t.remove(key);
        }
        Ok(())
    }

    /// Sets a boolean field of a destination (`enabled`, `automatic`).
    pub fn set_destination_flag(
        &mut self,
        name: &str,
        flag: &str,
        on: bool,
    ) -> Result<(), ConfigError> {
        self.set_destination_value(name, flag, on.into())
    }

    /// Adds a GRID peer (`[[grid.peer]]`).
    pub fn add_peer(&mut self, p: &PeerConfig) {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(&p.name);
        t["url"] = toml_edit::value(&p.url);
        t["id"] = toml_edit::value(&p.id);
        t["token_file"] = toml_edit::value(p.token_file.to_string_lossy().as_ref());
        t["sync_photos"] = toml_edit::value(p.sync_photos);
        if let Some(f) = &p.fingerprint {
            t["fingerprint"] = toml_edit::value(f.as_str());
        }
        push_into(self.section("grid"), "peer", t);
    }

    /// Adds a notification channel (`[[notify.channel]]`); a channel of that name is
    /// refused.
    pub fn add_channel(&mut self, c: &ChannelConfig) -> Result<(), ConfigError> {
        if self.channel_index(&c.name).is_some() {
            return Err(ConfigError::Rejected(format!(
                "a notification channel named '{}' exists already",
                c.name
            )));
        }
        let text = toml::to_string(c).map_err(|e| ConfigError::Rejected(e.to_string()))?;
        let doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Rejected(e.to_string()))?;
        push_into(self.section("notify"), "channel", doc.as_table().clone());
        Ok(())
    }

    fn channel_index(&self, name: &str) -> Option<usize> {
        self.doc
            .get("notify")
            .and_then(|n| n.get("channel"))
            .and_then(|i| i.as_array_of_tables())
            .and_then(|arr| {
                arr.iter()
                    .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
            })
    }

    /// Forgets a notification channel.
    pub fn remove_channel(&mut self, name: &str) -> Result<(), ConfigError> {
        let i = self
            .channel_index(name)
            .ok_or_else(|| ConfigError::UnknownChannel { name: name.into() })?;
        if let Some(arr) = self
            .doc
            .get_mut("notify")
            .and_then(|n| n.get_mut("channel"))
            .and_then(|i| i.as_array_of_tables_mut())
        {
            arr.remove(i);
        }
        Ok(())
    }

    /// Forgets a GRID peer.
    pub fn remove_peer(&mut self, name: &str) -> Result<(), ConfigError> {
        let peers = self
            .doc
            .get_mut("grid")
            .and_then(|g| g.get_mut("peer"))
            .and_then(|i| i.as_array_of_tables_mut());
        let Some(peers) = peers else {
            return Err(no_peer(name));
        };
        let i = peers
            .iter()
            .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
            .ok_or_else(|| no_peer(name))?;
        peers.remove(i);
        Ok(())
    }

    /// Sets a value under `[grid]`.
    pub fn set_grid_value(&mut self, key: &str, value: toml_edit::Value) {
        self.section("grid")[key] = toml_edit::Item::Value(value);
    }

    /// The table `[key]`, made if missing.
    fn section(&mut self, key: &str) -> &mut toml_edit::Table {
        let item = self
            .doc
            .entry(key)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        if !item.is_table() {
            *item = toml_edit::Item::Table(toml_edit::Table::new());
        }
        item.as_table_mut().expect("a table")
    }

    /// The document as it would be saved.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Checks the edited document as `load` would, then replaces the file atomically.
    pub fn save(&self) -> Result<Config, ConfigError> {
        let text = self.doc.to_string();
        let config = Config::parse(&self.path, &text)?;
        let write_err = |source| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(write_err)?;
        // Private: it says where the backups are and how to reach them.
        crate::fsutil::write_private(&self.path, text.as_bytes()).map_err(write_err)?;
        Ok(config)
    }
}

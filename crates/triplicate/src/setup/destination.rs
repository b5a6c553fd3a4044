//! `dest add|remove|enable|disable|edit|test`: a destination's marker is written (or
//! adopted, where the target holds one already) before the configuration names it.

use std::path::{Path, PathBuf};

use super::SetupError;
use crate::config::{ConfigFile, DestinationConfig, default_layout};
use crate::destination::layout::Layout;
use crate::destination::{FORMAT_VERSION, LocalDestination, Marker, MediaKind};
use crate::home::Home;
use crate::values::Recipient;

/// A destination to add.
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub name: String,
    pub target: String,
    pub media: MediaKind,
    pub site: String,
    pub layout: Option<String>,
    pub automatic: bool,
    /// For remote destinations: a shared credentials file, instead of `AWS_*`.
    pub credentials_file: Option<PathBuf>,
    /// For remote destinations: a bandwidth limit such as "20MB/s".
    pub bandwidth: Option<String>,
    /// age X25519 recipients to encrypt every copy to.
    pub encrypt_to: Vec<String>,
    /// An age identity file that opens the copies (for restore and `verify --decrypt`).
    pub identity_file: Option<PathBuf>,
    /// A passphrase file: the destination gets its own identity, stored on it
    /// encrypted with the passphrase, and every copy is encrypted to that identity.
    pub passphrase_file: Option<PathBuf>,
    /// A cold destination, not expected to be reachable (it is then not automatic).
    pub offline: bool,
    /// S3 Object Lock: a retention period for every object stored, e.g. "30d", and
    /// its mode ("governance", the default, or "compliance").
    pub object_lock: Option<String>,
    pub object_lock_mode: Option<String>,
    /// For a local folder that does not exist: make it. Without this, a missing folder
    /// is refused unless its parent is the mount point of another disk, so that a
    /// mistyped mount point never becomes a destination on the computer's own disk.
    pub create: bool,
}

impl NewDestination {
    /// A destination filled automatically, with the default layout and no remote
    /// settings; set the other fields on the result where they differ.
    pub fn new(name: &str, target: &str, media: MediaKind, site: &str) -> NewDestination {
        NewDestination {
            name: name.into(),
            target: target.into(),
            media,
            site: site.into(),
            layout: None,
            automatic: true,
            credentials_file: None,
            bandwidth: None,
            encrypt_to: Vec::new(),
            identity_file: None,
            passphrase_file: None,
            offline: false,
            object_lock: None,
            object_lock_mode: None,
            create: false,
        }
    }
}

/// Refuses a local target folder that does not exist, unless `create` or its parent is
/// the mount point of a disk other than the system's: `/media/USB-BACKPU` (a typo)
/// would otherwise become a folder on the laptop's own disk.
fn check_target_exists(root: &Path, create: bool) -> Result<(), SetupError> {
    if create || root.exists() {
        return Ok(());
    }
    let system = std::fs::metadata("/").ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.dev()
    });
    let parent_is_another_disk = root.parent().is_some_and(|parent| {
        use std::os::unix::fs::MetadataExt;
        crate::device::is_mount_point(parent)
            && std::fs::metadata(parent).is_ok_and(|m| Some(m.dev()) != system)
    });
    if parent_is_another_disk {
        return Ok(());
    }
    Err(SetupError::Invalid(format!(
        "{} does not exist: is the disk mounted? --create makes the folder",
        root.display()
    )))
}

fn absolute(what: &str, path: &Option<PathBuf>) -> Result<Option<PathBuf>, SetupError> {
    path.as_ref()
        .map(|p| {
            std::path::absolute(p)
                .map_err(|e| SetupError::Invalid(format!("{what} {}: {e}", p.display())))
        })
        .transpose()
}

/// Checks an identity file before it is named in the configuration: it must hold age
/// keys, and one of them must open what is encrypted to `recipients`.
fn check_identity_file(path: &Path, recipients: &[Recipient]) -> Result<(), SetupError> {
    use crate::destination::encrypted::parse_identities;
    let text = std::fs::read_to_string(path).map_err(|e| {
        SetupError::Invalid(format!(
            "cannot read the identity file {}: {e}",
            path.display()
        ))
    })?;
    let identities = parse_identities(&text)
        .map_err(|e| SetupError::Invalid(format!("identity file {}: {e}", path.display())))?;
    let opens = identities.iter().any(|i| {
        recipients
            .iter()
            .any(|r| r == i.to_public().to_string().as_str())
    });
    if !opens {
        return Err(SetupError::Invalid(format!(
            "the identity file {} holds no key for any of the recipients given with --encrypt-to",
            path.display()
        )));
    }
    Ok(())
}

/// A value typed by a person (a flag, a form field), parsed as the configuration would.
fn written<T: crate::values::Parse>(text: &str) -> Result<crate::values::Written<T>, SetupError> {
    crate::values::Written::new(text).map_err(SetupError::Invalid)
}

/// Adds a destination: writes (or adopts) its marker, then the configuration.
pub fn add_destination(
    home: &Home,
    node: &str,
    new: &NewDestination,
) -> Result<DestinationConfig, SetupError> {
    let config = crate::config::Config::load(&home.config)?;
    if config.destination(&new.name).is_some() {
        return Err(SetupError::DestinationExists {
            name: new.name.clone(),
        });
    }
    let remote = crate::destination::remote::is_remote(&new.target);
    let root = if remote {
        PathBuf::from(&new.target)
    } else {
        std::path::absolute(&new.target)
            .map_err(|e| SetupError::Invalid(format!("{}: {e}", new.target)))?
    };
    if !remote {
        check_target_exists(&root, new.create)?;
    }
    // Check the whole configuration before touching the disk.
    let mut draft = draft(new, &root)?;
    // A passphrase-protected destination gets its own identity (kept only if the
    // destination is new; an existing one has its identity already).
    let passphrase = draft
        .passphrase_file
        .as_deref()
        .map(crate::destination::encrypted::read_passphrase)
        .transpose()
        .map_err(SetupError::Invalid)?;
    let protected_identity = passphrase
        .as_ref()
        .map(crate::destination::encrypted::new_protected_identity);
    if let Some((recipient, _)) = &protected_identity {
        draft.encrypt_to.push(written(recipient)?);
    }
    let mut file = ConfigFile::open(&home.config)?;
    file.add_destination(&draft);
    crate::config::Config::parse(&home.config, &file.text())?;
    if let Some(path) = &draft.identity_file {
        check_identity_file(path, &draft.encrypt_to)?;
    }

    let marker = Marker {
        format: FORMAT_VERSION,
        id: draft.id.clone(),
        name: new.name.clone(),
        created: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        media: new.media,
        site: new.site.clone(),
        node: node.into(),
        age_recipients: draft.encrypt_to.iter().map(|r| r.to_string()).collect(),
    };
    // Writing the marker is also the check that the target is reachable and writable.
    let in_force = if remote {
        crate::destination::connect(&draft)?.initialise(&marker)?
    } else {
        LocalDestination::initialise(&new.name, &root, &marker)?
    };
    adopt_existing(&config, &mut draft, &in_force, &root)?;
    if let (Some(passphrase), Some((made, identity))) = (&passphrase, &protected_identity) {
        let recipient = store_protected_identity(&draft, passphrase, identity)?;
        // An existing destination's own identity, rather than the one just made.
        draft.encrypt_to.retain(|r| r != made.as_str());
        let recipient = written(&recipient)?;
        if !draft.encrypt_to.contains(&recipient) {
            draft.encrypt_to.push(recipient);
        }
    }
    let mut file = ConfigFile::open(&home.config)?;
    file.add_destination(&draft);
    file.save()?;
    Ok(draft)
}

/// The configuration of a new destination at `root`, as asked for.
fn draft(new: &NewDestination, root: &Path) -> Result<DestinationConfig, SetupError> {
    let target =
        written(root.to_str().ok_or_else(|| {
            SetupError::Invalid(format!("{} is not valid UTF-8", root.display()))
        })?)?;
    Ok(DestinationConfig {
        name: new.name.clone(),
        target,
        id: uuid::Uuid::new_v4().to_string(),
        media: new.media,
        site: new.site.clone(),
        enabled: true,
        automatic: new.automatic && !new.offline,
        layout: match &new.layout {
            Some(l) => written(l)?,
            None => default_layout(),
        },
        concurrency: None,
        bandwidth: new.bandwidth.as_deref().map(written).transpose()?,
        credentials_file: absolute("credentials file", &new.credentials_file)?,
        encrypt_to: new
            .encrypt_to
            .iter()
            .map(|r| written(r.trim()))
            .collect::<Result<_, _>>()?,
        identity_file: absolute("identity file", &new.identity_file)?,
        passphrase_file: absolute("passphrase file", &new.passphrase_file)?,
        offline: new.offline,
        // Its own schedule: refreshed by hand, not as photos arrive.
        refresh_every: None,
        object_lock: new.object_lock.as_deref().map(written).transpose()?,
        object_lock_mode: new.object_lock_mode.as_deref().map(written).transpose()?,
    })
}

/// Where the target holds a destination already (its marker `in_force`), keeps its
/// identity, unless another configured destination is that one, or its copies are
/// encrypted where the new one's would not be (or the other way round).
fn adopt_existing(
    config: &crate::config::Config,
    draft: &mut DestinationConfig,
    in_force: &Marker,
    root: &Path,
) -> Result<(), SetupError> {
    if in_force.id != draft.id {
        if let Some(other) = config.destinations.iter().find(|d| d.id == in_force.id) {
            return Err(SetupError::Invalid(format!(
                "{} is already configured as destination '{}'",
                root.display(),
                other.name
            )));
        }
        // An existing destination: keep its identity.
        draft.id = in_force.id.clone();
    }
    if in_force.age_recipients.is_empty() != draft.encrypt_to.is_empty() {
        return Err(SetupError::Invalid(if draft.encrypt_to.is_empty() {
            format!(
                "{} holds age-encrypted copies: add it with --encrypt-to and its recipients ({}), or --passphrase-file",
                root.display(),
                in_force.age_recipients.join(", ")
            )
        } else {
            format!(
                "{} holds plain copies already: an encrypted destination must start empty (choose another folder or bucket prefix)",
                root.display()
            )
        }));
    }
    Ok(())
}

/// Stores a passphrase-protected identity at a new destination, or opens the one an
/// existing destination has; returns the recipient its copies are encrypted to.
fn store_protected_identity(
    draft: &DestinationConfig,
    passphrase: &age::secrecy::SecretString,
    made: &[u8],
) -> Result<String, SetupError> {
    use crate::destination::WriteDestination;
    use crate::destination::encrypted::{IDENTITY_KEY, open_protected_identity};
    let raw: Box<dyn WriteDestination> = if draft.is_remote() {
        Box::new(crate::destination::connect(draft)?)
    } else {
        Box::new(LocalDestination::open(
            &draft.name,
            &draft.local_root(),
            &draft.id,
        )?)
    };
    let key = crate::relpath::RelPath::new(IDENTITY_KEY).expect("a clean key");
    let bytes = match raw.stat(&key)? {
        None => {
            raw.put(&key, &mut &made[..], made.len() as u64)?;
            made.to_vec()
        }
        Some(_) => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut raw.read(&key)?, &mut bytes).map_err(|e| {
                SetupError::Unhealthy {
                    name: draft.name.clone(),
                    message: format!("cannot read {IDENTITY_KEY}: {e}"),
                }
            })?;
            bytes
        }
    };
    let identities =
        open_protected_identity(&bytes, passphrase).map_err(|e| SetupError::Unhealthy {
            name: draft.name.clone(),
            message: e.to_string(),
        })?;
    Ok(identities[0].to_public().to_string())
}

/// Forgets a destination; its data stays exactly as it is.
pub fn remove_destination(home: &Home, name: &str) -> Result<DestinationConfig, SetupError> {
    let config = crate::config::Config::load(&home.config)?;
    let d = config
        .destination(name)
        .cloned()
        .ok_or_else(|| SetupError::UnknownDestination { name: name.into() })?;
    let mut file = ConfigFile::open(&home.config)?;
    file.remove_destination(name)?;
    file.save()?;
    Ok(d)
}

/// Sets `enabled` or `automatic` on a destination.
pub fn set_destination_flag(
    home: &Home,
    name: &str,
    flag: &str,
    on: bool,
) -> Result<(), SetupError> {
    let mut file = ConfigFile::open(&home.config)?;
    file.set_destination_flag(name, flag, on)?;
    file.save()?;
    Ok(())
}

/// Changes to a destination's declaration; `None` leaves a field as it is. Where the
/// copies are (the target) cannot change: add the new place as another destination.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationEdit {
    pub media: Option<MediaKind>,
    pub site: Option<String>,
    pub layout: Option<String>,
    pub concurrency: Option<usize>,
    pub enabled: Option<bool>,
    pub automatic: Option<bool>,
    /// A bandwidth limit for a remote destination ("20MB/s"); "" removes it.
    pub bandwidth: Option<String>,
    /// The age identity file that opens an encrypted destination's copies; "" removes
    /// it. It must hold a key for one of the destination's recipients.
    pub identity_file: Option<PathBuf>,
}

/// Edits a destination's declaration, checked as a whole before it is saved.
pub fn edit_destination(
    home: &Home,
    name: &str,
    edit: &DestinationEdit,
) -> Result<DestinationConfig, SetupError> {
    let unknown = || SetupError::UnknownDestination { name: name.into() };
    let mut file = ConfigFile::open(&home.config)?;
    crate::config::Config::parse(&home.config, &file.text())?
        .destination(name)
        .ok_or_else(unknown)?;
    if let Some(media) = edit.media {
        file.set_destination_value(name, "media", media.as_str().into())?;
    }
    if let Some(site) = &edit.site {
        if site.trim().is_empty() {
            return Err(SetupError::Invalid(
                "the site must be 'onsite' or the name of another site".into(),
            ));
        }
        file.set_destination_value(name, "site", site.trim().into())?;
    }
    if let Some(layout) = &edit.layout {
        written::<Layout>(layout)?;
        file.set_destination_value(name, "layout", layout.as_str().into())?;
    }
    if let Some(n) = edit.concurrency {
        if n == 0 || n > 64 {
            return Err(SetupError::Invalid(
                "concurrency must be between 1 and 64".into(),
            ));
        }
        file.set_destination_value(name, "concurrency", (n as i64).into())?;
    }
    if let Some(b) = &edit.bandwidth {
        if b.trim().is_empty() {
            file.remove_destination_key(name, "bandwidth")?;
        } else {
            written::<crate::values::Rate>(b)?;
            file.set_destination_value(name, "bandwidth", b.trim().into())?;
        }
    }
    if let Some(path) = &edit.identity_file {
        if path.as_os_str().is_empty() {
            file.remove_destination_key(name, "identity_file")?;
        } else {
            let path = absolute("identity file", &Some(path.clone()))?.expect("given");
            let config = crate::config::Config::parse(&home.config, &file.text())?;
            let d = config.destination(name).ok_or_else(unknown)?;
            if d.encrypt_to.is_empty() {
                return Err(SetupError::Invalid(format!(
                    "destination '{name}' is not encrypted: it needs no identity"
                )));
            }
            check_identity_file(&path, &d.encrypt_to)?;
            file.set_destination_value(
                name,
                "identity_file",
                path.to_string_lossy().as_ref().into(),
            )?;
        }
    }
    if let Some(on) = edit.enabled {
        file.set_destination_flag(name, "enabled", on)?;
    }
    if let Some(on) = edit.automatic {
        file.set_destination_flag(name, "automatic", on)?;
    }
    let config = file.save()?;
    config.destination(name).cloned().ok_or_else(unknown)
}

/// What `dest test` found: the marker read, a small object written, read back and
/// removed, and how long that took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthCheck {
    pub name: String,
    pub target: String,
    pub marker_id: String,
    pub round_trip_ms: u64,
}

/// A quick health check of a destination: reachable, the right one, writable.
pub fn test_destination(
    config: &crate::config::Config,
    name: &str,
) -> Result<HealthCheck, SetupError> {
    let d = config
        .destination(name)
        .ok_or_else(|| SetupError::UnknownDestination { name: name.into() })?;
    let started = std::time::Instant::now();
    let marker = crate::destination::probe(d)?;
    let dest = crate::destination::open(d)?;
    let key = crate::relpath::RelPath::new(
        format!(
            "{}/health-{}",
            crate::destination::META_DIR,
            uuid::Uuid::new_v4().simple()
        )
        .into_bytes(),
    )
    .expect("a clean key");
    let probe = b"triplicate health check";
    let stored = dest.put(&key, &mut &probe[..], probe.len() as u64)?;
    // What was stored, as stored: an encrypted destination is checked without its key.
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut dest.read_stored(&key)?, &mut back).map_err(|e| {
        SetupError::Unhealthy {
            name: name.into(),
            message: format!("reading the check back: {e}"),
        }
    })?;
    dest.remove(&key)?;
    let good = match stored {
        crate::destination::Stored::AsGiven => back == probe,
        crate::destination::Stored::Transformed { hash, .. } => {
            crate::photo::ContentHash::of(&back) == hash
        }
    };
    if !good {
        return Err(SetupError::Unhealthy {
            name: name.into(),
            message: "it gave back other bytes than were written".into(),
        });
    }
    Ok(HealthCheck {
        name: d.name.clone(),
        target: d.target.to_string(),
        marker_id: marker.id,
        round_trip_ms: started.elapsed().as_millis() as u64,
    })
}

//! A local destination's marker (read, and written once as a new file), and what an I/O
//! error at a destination means.

use super::*;

pub(super) fn read_marker(name: &str, root: &Path) -> Result<Marker, DestError> {
    let path = root.join(META_DIR).join(MARKER_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound || !root.is_dir() => {
            return Err(DestError::NotMounted {
                dest: name.into(),
                root: root.into(),
            });
        }
        Err(e) => return Err(map_io(name, "read", &path, e)),
    };
    let marker: Marker = toml::from_str(&text).map_err(|e| DestError::BadMarker {
        dest: name.into(),
        path: path.clone(),
        message: e.message().to_string(),
    })?;
    if marker.format > FORMAT_VERSION {
        return Err(DestError::BadMarker {
            dest: name.into(),
            path,
            message: format!(
                "format {} is newer than this program understands ({FORMAT_VERSION}); upgrade triplicate",
                marker.format
            ),
        });
    }
    Ok(marker)
}

/// Writes a small new file durably under a temporary name, then renames it in place.
pub(super) fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fsutil::sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Turns an I/O error into the destination error a user can act on.
pub(crate) fn map_io(dest: &str, op: &'static str, path: &Path, e: io::Error) -> DestError {
    if fsutil::is_no_space(&e) {
        DestError::Full {
            dest: dest.into(),
            path: path.into(),
        }
    } else if fsutil::is_read_only(&e) {
        DestError::ReadOnly {
            dest: dest.into(),
            path: path.into(),
        }
    } else if e.kind() == io::ErrorKind::PermissionDenied {
        DestError::PermissionDenied {
            dest: dest.into(),
            path: path.into(),
        }
    } else {
        DestError::Io {
            dest: dest.into(),
            op,
            path: path.into(),
            source: e,
        }
    }
}

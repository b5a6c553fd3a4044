//! Every name a peer sends is checked here before it is used or stored: a relative
//! path that stays where it is put, in UTF-8, without control characters.

use super::{GridError, Result};
use crate::photo::ContentHash;
use crate::relpath::RelPath;

/// The longest name accepted, and the longest component.
pub const NAME_MAX: usize = 4096;
pub const COMPONENT_MAX: usize = 255;

fn bad(name: &str, why: &str) -> GridError {
    GridError::BadName {
        name: name.escape_debug().to_string(),
        why: why.into(),
    }
}

/// A relative path a peer sent: no absolute path, no `..` or `.`, no empty component,
/// no backslash, NUL or other control character, within the length limits.
pub fn relative(name: &str) -> Result<RelPath> {
    if name.is_empty() {
        return Err(bad(name, "it is empty"));
    }
    if name.len() > NAME_MAX {
        return Err(bad(name, "it is longer than 4096 bytes"));
    }
    if name.starts_with('/') {
        return Err(bad(name, "absolute paths are not accepted"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad(name, "it holds a control character"));
    }
    if name.contains('\\') {
        return Err(bad(name, "it holds a backslash"));
    }
    for part in name.split('/') {
        match part {
            "" => return Err(bad(name, "it has an empty component")),
            "." | ".." => return Err(bad(name, "'.' and '..' are not accepted")),
            crate::destination::META_DIR => {
                return Err(bad(
                    name,
                    "'.triplicate' is the name of Triplicate's own folders",
                ));
            }
            p if p.len() > COMPONENT_MAX => {
                return Err(bad(name, "a component is longer than 255 bytes"));
            }
            _ => {}
        }
    }
    RelPath::new(name.as_bytes().to_vec()).map_err(|e| bad(name, &e.to_string()))
}

/// A node or library name a peer sent: one component, as `config` accepts names.
pub fn node_name(name: &str) -> Result<()> {
    crate::config::check_name(name).map_err(|why| bad(name, &why))
}

/// A node id, the origin of a record: a UUID as nodes make them (lowercase,
/// hyphenated), and nothing else.
pub fn node_id(id: &str) -> Result<()> {
    let canonical = uuid::Uuid::parse_str(id).is_ok_and(|u| u.to_string() == id);
    if canonical {
        Ok(())
    } else {
        Err(GridError::BadRequest(format!(
            "'{}' is not a node id",
            id.escape_debug()
        )))
    }
}

/// A photo hash: 64 lowercase hex digits.
pub fn hash(text: &str) -> Result<ContentHash> {
    let ok = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then(|| ContentHash::from_hex(text))
        .flatten()
        .ok_or_else(|| {
            GridError::BadRequest(format!(
                "'{}' is not a BLAKE3 hash (64 lowercase hex digits)",
                text.escape_debug()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_absolute_and_control_names_are_refused() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a/b/",
            "a\\..\\b",
            "a\u{0}b",
            "a\nb",
            "a\u{7f}b",
            "",
            "..",
            // Never scanned, so never backed up: refused rather than stored unprotected.
            "lib/.triplicate/partial/0",
        ] {
            assert!(relative(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "x".repeat(256);
        assert!(relative(&long).is_err());
        assert!(relative(&format!("a/{}", "b/".repeat(2100))).is_err());
    }

    #[test]
    fn only_node_ids_are_origins() {
        assert!(node_id(&uuid::Uuid::new_v4().to_string()).is_ok());
        for bad in [
            "../../etc/passwd",
            "",
            "a",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
        ] {
            assert!(node_id(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ordinary_names_pass_unchanged() {
        for good in [
            "Downloads/2024/IMG_0001.CR3",
            "a b/été ✓.jpg",
            "..hidden/x",
            "x..",
        ] {
            assert_eq!(relative(good).unwrap().as_bytes(), good.as_bytes());
        }
    }

    #[test]
    fn hashes_are_64_lowercase_hex() {
        let h = ContentHash::of(b"x").to_hex();
        assert!(hash(&h).is_ok());
        assert!(hash(&h.to_uppercase()).is_err());
        assert!(hash(&h[..63]).is_err());
        assert!(hash("../../etc/passwd").is_err());
    }
}

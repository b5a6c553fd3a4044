//! Which names a restore picks, as a person means them.
//!
//! A pattern without a slash matches a file's name at any depth (`IMG_0010.CR2`,
//! `*.CR3`); one with a slash matches its path in the library, or `library/path` (as
//! in `.gitignore`: `2024-05-*/**`, `Downloads/card1/*`). A pattern also names the
//! file whose name is exactly its text, so `IMG[1].JPG` brings back the photo of that
//! very name (as a glob, `[1]` alone would mean "the character 1"). A pattern that
//! matches nothing is an error, with the nearest names.

use std::os::unix::ffi::OsStrExt;

use crate::catalog::NamedPhoto;

/// Name patterns, each remembering whether it matched.
pub(super) struct Patterns {
    each: Vec<Pattern>,
}

struct Pattern {
    text: String,
    glob: globset::GlobMatcher,
    /// Matched against the file name only.
    by_name: bool,
    matched: std::cell::Cell<bool>,
}

/// A pattern that matches no name, and the names nearest to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub pattern: String,
    pub nearest: Vec<String>,
}

impl Patterns {
    /// Parses `patterns`; `Err((pattern, why))` for one that is not a pattern.
    pub fn new(patterns: &[String]) -> Result<Patterns, (String, String)> {
        let each = patterns
            .iter()
            .map(|p| {
                let glob = globset::GlobBuilder::new(p)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| (p.clone(), e.kind().to_string()))?;
                Ok(Pattern {
                    text: p.clone(),
                    glob: glob.compile_matcher(),
                    by_name: !p.contains('/'),
                    matched: std::cell::Cell::new(false),
                })
            })
            .collect::<Result<_, (String, String)>>()?;
        Ok(Patterns { each })
    }

    /// Whether `n` is named by a pattern (every name when there are none).
    pub fn matches(&self, n: &NamedPhoto) -> bool {
        if self.each.is_empty() {
            return true;
        }
        let path = std::ffi::OsStr::from_bytes(n.path.as_bytes());
        let name = std::ffi::OsStr::from_bytes(n.path.file_name());
        let with_library = std::path::Path::new(&n.library).join(path);
        let mut any = false;
        for p in &self.each {
            let literal = std::ffi::OsStr::new(&p.text);
            let hit = if p.by_name {
                name == literal || p.glob.is_match(name)
            } else {
                path == literal
                    || with_library.as_os_str() == literal
                    || p.glob.is_match(path)
                    || p.glob.is_match(&with_library)
            };
            if hit {
                p.matched.set(true);
                any = true;
            }
        }
        any
    }

    /// The patterns that matched none of the names seen, with the names nearest to
    /// each among `names` (at most three, close enough to be a typo).
    pub fn unmatched(&self, names: &[NamedPhoto]) -> Vec<Unmatched> {
        self.each
            .iter()
            .filter(|p| !p.matched.get())
            .map(|p| Unmatched {
                pattern: p.text.clone(),
                nearest: nearest(&p.text, p.by_name, names),
            })
            .collect()
    }
}

/// Up to three names within a few edits of `pattern` (its literal characters).
fn nearest(pattern: &str, by_name: bool, names: &[NamedPhoto]) -> Vec<String> {
    let wanted: String = pattern.chars().filter(|c| !"*?[]{}".contains(*c)).collect();
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, String)> = names
        .iter()
        .map(|n| {
            let shown = if by_name {
                String::from_utf8_lossy(n.path.file_name()).into_owned()
            } else {
                n.path.to_string()
            };
            (strsim::levenshtein(&wanted, &shown), shown)
        })
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photo::ContentHash;
    use crate::relpath::RelPath;

    fn named(library: &str, path: &str) -> NamedPhoto {
        NamedPhoto {
            photo_id: 1,
            library: library.into(),
            path: RelPath::new(path.as_bytes().to_vec()).unwrap(),
            mtime_ns: 0,
            hash: ContentHash::of(path.as_bytes()),
            size: 1,
            captured: String::new(),
            in_library: true,
        }
    }

    #[test]
    fn a_pattern_without_a_slash_names_a_file_at_any_depth() {
        let names = [
            named("lib", "2024/2024-05-17/IMG_0010.CR2"),
            named("lib", "IMG_0010.CR2"),
            named("lib", "2024/2024-05-17/IMG_0011.CR3"),
        ];
        let picked = |patterns: &[&str]| -> Vec<String> {
            let p =
                Patterns::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            names
                .iter()
                .filter(|n| p.matches(n))
                .map(|n| n.path.to_string())
                .collect()
        };
        assert_eq!(
            picked(&["IMG_0010.CR2"]),
            ["2024/2024-05-17/IMG_0010.CR2", "IMG_0010.CR2"]
        );
        assert_eq!(picked(&["*.CR3"]), ["2024/2024-05-17/IMG_0011.CR3"]);
        assert_eq!(
            picked(&["2024/**/IMG_0010.CR2"]),
            ["2024/2024-05-17/IMG_0010.CR2"]
        );
        assert_eq!(picked(&["lib/IMG_0010.CR2"]), ["IMG_0010.CR2"]);
    }

    #[test]
    fn a_name_with_brackets_is_found_by_itself() {
        let names = [
            named("lib", "d/IMG[1].JPG"),
            named("lib", "d/IMG1.JPG"),
            named("lib", "d/{a,b}.JPG"),
        ];
        let picked = |pattern: &str| -> Vec<String> {
            let p = Patterns::new(&[pattern.to_string()]).unwrap();
            names
                .iter()
                .filter(|n| p.matches(n))
                .map(|n| n.path.to_string())
                .collect()
        };
        assert_eq!(picked("IMG[1].JPG"), ["d/IMG[1].JPG", "d/IMG1.JPG"]);
        assert_eq!(picked("d/IMG[1].JPG"), ["d/IMG[1].JPG", "d/IMG1.JPG"]);
        assert_eq!(picked("{a,b}.JPG"), ["d/{a,b}.JPG"]);
    }

    #[test]
    fn a_pattern_that_matches_nothing_says_the_nearest_names() {
        let names = [
            named("lib", "d/IMG_0010.CR2"),
            named("lib", "d/IMG_0011.CR2"),
            named("lib", "d/notes.txt"),
        ];
        let p = Patterns::new(&["IMG_0010.CR3".into(), "*.CR2".into()]).unwrap();
        for n in &names {
            p.matches(n);
        }
        assert_eq!(
            p.unmatched(&names),
            [Unmatched {
                pattern: "IMG_0010.CR3".into(),
                nearest: vec!["IMG_0010.CR2".into(), "IMG_0011.CR2".into()],
            }]
        );
    }

    #[test]
    fn no_pattern_picks_every_name_and_a_bad_one_is_named() {
        let none = Patterns::new(&[]).unwrap();
        assert!(none.matches(&named("lib", "a/b.jpg")));
        assert!(none.unmatched(&[]).is_empty());
        let bad = Patterns::new(&["IMG_[0010.CR2".into()])
            .err()
            .expect("not a pattern");
        assert_eq!(bad.0, "IMG_[0010.CR2");
        assert!(!bad.1.is_empty(), "says why");
    }

    #[test]
    fn each_pattern_remembers_whether_it_matched_and_library_paths_reach_any_depth() {
        let names = [
            named("Downloads", "card1/2024/IMG_0001.JPG"),
            named("Selects", "IMG_0001.JPG"),
        ];
        let p = Patterns::new(&[
            "Downloads/card1/**".into(),
            "Selects/*.JPG".into(),
            "Archive/**".into(),
        ])
        .unwrap();
        let picked: Vec<bool> = names.iter().map(|n| p.matches(n)).collect();
        assert_eq!(picked, [true, true]);
        let unmatched: Vec<String> = p.unmatched(&names).into_iter().map(|u| u.pattern).collect();
        assert_eq!(
            unmatched,
            ["Archive/**"],
            "only the pattern that named nothing"
        );
    }
}

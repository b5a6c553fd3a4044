//! Where in the file a problem is: the line and the key of a serde error's offset, or
//! of a key path that [`Config::check`](super::Config) names.

/// One step of a key path into the TOML document.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    Key(&'static str),
    Index(usize),
}

pub(super) fn pointer_name(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The line of the value at `steps`, found through toml_edit's spans; falls back to
/// the innermost table that exists.
pub(super) fn line_of_pointer(text: &str, steps: &[Step]) -> Option<usize> {
    let doc = toml_edit::Document::parse(text.to_string()).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    for step in steps {
        let next = match step {
            Step::Key(k) => item.get(k),
            Step::Index(i) => item.get(*i),
        };
        match next {
            Some(n) => {
                item = n;
                if let Some(span) = n.span() {
                    best = Some(span.start);
                } else if let Some(t) = n.as_table() {
                    best = t.span().map(|s| s.start).or(best);
                }
            }
            None => break,
        }
    }
    best.map(|o| line_at(text, o))
}

pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key whose value sits at `offset`, named as [`Config::check`]'s errors name it:
/// the `key = value` on that line under the nearest table header above it, with the
/// index of an array of tables (`destination[1].layout`).
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let key = line.split_once('=').map(|(k, _)| k.trim().to_string());
    let above = &text[..line_start];
    let header = above
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['));
    let table = header.map(|h| {
        let name = h.trim_matches(|c| c == '[' || c == ']').trim();
        if h.starts_with("[[") {
            let index = above.lines().filter(|l| l.trim() == h).count() - 1;
            format!("{name}[{index}]")
        } else {
            name.to_string()
        }
    });
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

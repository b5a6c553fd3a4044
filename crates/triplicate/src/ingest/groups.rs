//! A shot's files keep matching names in the library (see [`crate::scan::group`]).
//!
//! Before anything is copied, each group of the card is named as a whole: every
//! member under its layout name, or, when one of those names holds other content in
//! the library (another camera's `IMG_0001.JPG`) or was taken by another group of the
//! same card, every member with the suffix of the group's primary member's hash
//! (`IMG_0001~a1b2c3d4.CR2` beside `IMG_0001~a1b2c3d4.JPG`). The destinations follow
//! the library's names, as a backup would.

use std::collections::HashSet;

use super::card::Card;
use super::{Context, Planned};
use crate::destination::layout::group_name;
use crate::destination::{ReadDestination, WriteDestination};
use crate::engine::fanout::same_bytes;
use crate::photo::ContentHash;
use crate::relpath::RelPath;
use crate::scan::group::Siblings;

/// The suffix a group member takes: its primary member's hash, put before `rest`.
#[derive(Debug, Clone)]
pub(super) struct GroupSuffix {
    primary: ContentHash,
    /// What follows the group's stem in the member's name (`.CR2.xmp`).
    rest: Vec<u8>,
}

impl GroupSuffix {
    pub fn apply(&self, key: RelPath) -> RelPath {
        let name = group_name(key.file_name(), &self.rest, &self.primary);
        key.with_file_name(&name).unwrap_or(key)
    }
}

/// Gives each planned file the suffix its group needs, `None` where its group keeps
/// its names.
pub(super) fn give_suffixes(ctx: &Context<'_>, card: &Card, plans: &mut [Planned<'_>]) {
    let suffixes = name_groups(ctx, card, plans);
    for (p, suffix) in plans.iter_mut().zip(suffixes) {
        p.group = suffix;
    }
}

/// The suffix of each planned file (in order), `None` where its group keeps its names.
fn name_groups(ctx: &Context<'_>, card: &Card, plans: &[Planned<'_>]) -> Vec<Option<GroupSuffix>> {
    let mut out = vec![None; plans.len()];
    let paths: Vec<RelPath> = card.files.iter().map(|f| f.rel.clone()).collect();
    let siblings = Siblings::index(&paths);
    let index_of: std::collections::HashMap<&RelPath, usize> =
        paths.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    // Names the groups of this card took, in card order.
    let mut claimed: HashSet<RelPath> = HashSet::new();
    for path in &paths {
        let Some(group) = siblings.group_of(path) else {
            continue;
        };
        if !seen.insert(group.key.clone()) {
            continue;
        }
        let members: Vec<usize> = group
            .members
            .iter()
            .filter_map(|m| index_of.get(*m).copied())
            .collect();
        let keys: Vec<RelPath> = members.iter().map(|&i| ctx.layout_key(&plans[i])).collect();
        let taken = members
            .iter()
            .zip(&keys)
            .any(|(&i, key)| claimed.contains(key) || holds_other(ctx, &plans[i], key));
        // Unreadable primary: its copy reports the card error; the others keep names.
        let primary = members.first().and_then(|&i| plans[i].learn().ok());
        let suffix = |i: usize, primary: ContentHash| GroupSuffix {
            primary,
            rest: group.rest(&plans[i].file.rel).to_vec(),
        };
        // A card put back: the group keeps the names it took then, though a member
        // was deleted or edited in the library since.
        let earlier = primary.and_then(|primary| {
            members.iter().zip(&keys).find_map(|(&i, key)| {
                let went = earlier_place(ctx, &plans[i])?;
                if went == *key {
                    Some(false)
                } else {
                    (went == suffix(i, primary.blake3).apply(key.clone())).then_some(true)
                }
            })
        });
        let suffixed = earlier.unwrap_or(taken);
        match primary {
            Some(primary) if suffixed => {
                for &i in &members {
                    out[i] = Some(suffix(i, primary.blake3));
                }
            }
            _ => claimed.extend(keys),
        }
    }
    out
}

/// Where an earlier ingest of this card put the file, if one did.
fn earlier_place(ctx: &Context<'_>, p: &Planned<'_>) -> Option<RelPath> {
    let catalog = &ctx.t.catalog;
    if !catalog.was_ingested(ctx.card_id, &p.file.rel).ok()? {
        return None;
    }
    let hash = p.learn().ok()?.blake3;
    let (library, path) = catalog
        .ingested_as(ctx.card_id, &p.file.rel, &hash)
        .ok()??;
    (library == ctx.library.name).then_some(path)
}

/// Whether the library's `key` holds content other than the card file's.
fn holds_other(ctx: &Context<'_>, p: &Planned<'_>, key: &RelPath) -> bool {
    match ctx.library_dest.stat(key) {
        Ok(None) => false,
        Ok(Some(meta)) if meta.size != p.file.size => true,
        Ok(Some(_)) => match p.learn() {
            Ok(l) => {
                same_bytes(ctx.library_dest as &dyn WriteDestination, key, &l.blake3).is_none()
            }
            Err(_) => false,
        },
        Err(_) => true,
    }
}

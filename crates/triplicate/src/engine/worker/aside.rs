//! Moving bytes aside at a destination, never deleting them: an earlier version into
//! the versions folder ([`version_key`]), a damaged copy into the quarantine, each
//! recorded in the catalog and the run's operations.

use super::{OpenDest, RunContext};
use crate::catalog::{CatalogError, EarlierVersion, Operation, PendingPhoto};
use crate::destination::layout::version_key;
use crate::engine::fanout::TargetError;
use crate::relpath::RelPath;

impl RunContext<'_> {
    /// Moves the earlier version of a file aside at `od`, into the versions folder
    /// ([`version_key`]), and records where it went. Never replaces, never deletes: if
    /// an interrupted run already moved it, the catalog just catches up.
    pub(super) fn set_aside(
        &self,
        od: &OpenDest,
        earlier: &EarlierVersion,
    ) -> Result<Result<(), TargetError>, CatalogError> {
        let Ok(aside) = version_key(&earlier.key, earlier.until, &earlier.hash) else {
            return Ok(Ok(()));
        };
        let moved = match od.dest.rename(&earlier.key, &aside) {
            Ok(()) => Ok(()),
            Err(e) => match (od.dest.stat(&earlier.key), od.dest.stat(&aside)) {
                (Ok(None), Ok(Some(_))) => Ok(()),
                _ => Err(TargetError::Dest(e)),
            },
        };
        if moved.is_ok() {
            self.t
                .catalog
                .move_copy(earlier.photo_id, &od.config.id, &aside)?;
            tracing::info!(destination = %od.config.name, "kept the earlier version of {} as {aside}", earlier.key);
            self.t.catalog.record_operation(&Operation {
                run: self.run,
                kind: "version",
                dest: Some(&od.config.name),
                photo_id: Some(earlier.photo_id),
                path: Some(&aside),
                bytes: Some(earlier.size),
                duration_ms: None,
                outcome: "kept",
                message: Some(&format!("earlier version of {}", earlier.key)),
            })?;
        }
        Ok(moved)
    }

    /// Moves the file of `photo`'s name at `key`, which holds the earlier content
    /// `held`, aside into the versions folder; the copy of `held` follows when that
    /// file was it. Nothing there, nothing to move.
    pub(super) fn set_name_aside(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
        held: i64,
        key: &RelPath,
    ) -> Result<Result<(), TargetError>, CatalogError> {
        let Some(copy) = self.t.catalog.copy_of(held, &od.config.id)? else {
            return Ok(Ok(()));
        };
        if !matches!(od.dest.stat(key), Ok(Some(_))) {
            self.t
                .catalog
                .forget_alias(&od.config.id, &photo.library, &photo.path)?;
            return Ok(Ok(()));
        }
        let earlier = EarlierVersion {
            photo_id: held,
            key: key.clone(),
            until: chrono::Utc::now().timestamp_millis(),
            size: copy.size,
            hash: copy.hash,
        };
        if copy.key == *key {
            let moved = self.set_aside(od, &earlier)?;
            if moved.is_ok() {
                self.t
                    .catalog
                    .forget_alias(&od.config.id, &photo.library, &photo.path)?;
            }
            return Ok(moved);
        }
        let Ok(aside) = version_key(key, earlier.until, &copy.hash) else {
            return Ok(Ok(()));
        };
        if let Err(e) = od.dest.rename(key, &aside) {
            return Ok(Err(TargetError::Dest(e)));
        }
        self.t
            .catalog
            .forget_alias(&od.config.id, &photo.library, &photo.path)?;
        tracing::info!(destination = %od.config.name, "kept the earlier version of {key} as {aside}");
        Ok(Ok(()))
    }

    /// Moves the damaged bytes at `key` into `.triplicate/quarantine/<run>/` (nothing
    /// there, nothing to move).
    pub(super) fn quarantine(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
        key: &RelPath,
    ) -> Result<Result<(), TargetError>, CatalogError> {
        match od.dest.stat(key) {
            Ok(None) => return Ok(Ok(())),
            Ok(Some(_)) => {}
            Err(e) => return Ok(Err(TargetError::Dest(e))),
        }
        let aside = crate::destination::layout::quarantine_key(self.run, key);
        if let Err(e) = od.dest.rename(key, &aside) {
            return Ok(Err(TargetError::Dest(e)));
        }
        tracing::warn!(destination = %od.config.name, "moved the damaged copy {key} aside to {aside}");
        self.t.catalog.record_operation(&Operation {
            run: self.run,
            kind: "quarantine",
            dest: Some(&od.config.name),
            photo_id: Some(photo.photo_id),
            path: Some(&aside),
            bytes: None,
            duration_ms: None,
            outcome: "moved",
            message: Some(&format!(
                "damaged copy of {key}, written again under its name"
            )),
        })?;
        Ok(Ok(()))
    }
}

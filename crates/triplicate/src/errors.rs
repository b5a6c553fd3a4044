//! The fault of a chain of errors, as a command meets it at its edge: the first error
//! in the chain that says it is the caller's fault decides (a wrong name, a bad
//! value); otherwise the work failed. The one place that knows every error type of
//! the library; each says its own fault through [`Classify`].

use std::error::Error;

use crate::fault::{Classify, Fault};

/// The fault of `error` and its sources.
pub fn fault_of(error: &(dyn Error + 'static)) -> Fault {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(fault) = own_fault(e)
            && fault != Fault::Failed
        {
            return fault;
        }
        cause = e.source();
    }
    Fault::Failed
}

/// The fault `e` says of itself, if it is one of the library's errors.
fn own_fault(e: &(dyn Error + 'static)) -> Option<Fault> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = e.downcast_ref::<$t>() {
                return Some(e.fault());
            })*
        };
    }
    first_of!(
        crate::config::ConfigError,
        crate::home::OpenError,
        crate::setup::SetupError,
        crate::engine::EngineError,
        crate::restore::RestoreError,
        crate::recover::RecoverError,
        crate::prune::PruneError,
        crate::protection::AcceptError,
        crate::ingest::IngestError,
        crate::archive::ArchiveError,
        crate::grid::GridError,
        crate::access::AccessError,
        crate::service::lock::LockError,
        crate::tls::TlsError,
        crate::alerts::NotifyError,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_failure_is_not_bad_usage() {
        let damaged = crate::catalog::CatalogError::Damaged {
            path: "/h/catalog.db".into(),
            found: "malformed".into(),
        };
        let e = crate::setup::SetupError::Catalog(damaged);
        assert_eq!(fault_of(&e), Fault::Failed);
        assert_eq!(fault_of(&e).exit_code(), 1);
    }

    #[test]
    fn an_unknown_destination_is_its_own_fault() {
        let e = crate::setup::SetupError::UnknownDestination { name: "usb".into() };
        assert_eq!(fault_of(&e), Fault::NotFound);
        assert_eq!(fault_of(&e).exit_code(), 2);
        let wrapped = crate::engine::EngineError::UnknownDestination("usb".into());
        assert_eq!(fault_of(&wrapped), Fault::NotFound);
    }
}

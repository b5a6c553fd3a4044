//! One module per command: each parses its arguments (clap), calls the library and
//! prints what happened. Nothing here decides anything the library could.

pub mod accept_changes;
pub mod archive;
pub mod backup;
pub mod catalog;
pub mod dest;
pub mod grid;
pub mod ingest;
pub mod init;
pub mod library;
pub mod log;
pub mod mhl;
pub mod notify;
pub mod open;
pub mod prune;
pub mod recover;
pub mod restore;
pub mod run;
pub mod snapshots;
pub mod status;
pub mod verify;

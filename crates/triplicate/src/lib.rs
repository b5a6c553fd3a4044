//! Triplicate: every photo in 3 verified copies, on 2 kinds of media, 1 offsite.
//!
//! This crate holds all of Triplicate's behaviour; the `triplicate` binary and the
//! server are thin layers over it. Data flows one way:
//!
//! ```text
//! scan ──▶ catalog ──▶ engine (plan, fan-out) ──▶ destination ──▶ verify ──▶ catalog
//! ```
//!
//! - [`vocab`]: the shared vocabulary (media kinds, onsite, format version); [`values`]:
//!   value types parsed once (durations, bandwidths, lock modes). Both are leaves.
//! - [`layout`]: where a photo goes at a destination (the layout template, versions,
//!   quarantine); [`target`]: remote destination URLs (S3, SFTP, WebDAV) parsed once.
//! - [`config`]: the TOML configuration, checked with file/line/key errors.
//! - [`catalog`]: SQLite state (photos, names, copies, runs, warnings).
//! - [`scan`]: walking library folders, photo kinds, BLAKE3, capture times from each
//!   file's own metadata.
//! - [`zone`]: the time zone that gives a UTC time its calendar day.
//! - [`device`]: which physical disk or store a path or a copy lives on.
//! - [`parallel`]: the one bounded worker pool (verify, ingest, restore); [`throttle`]:
//!   the one bandwidth limit (remote destinations, GRID sends).
//! - [`destination`]: the storage traits, local folders, layout, markers, manifests.
//! - [`engine`]: backup planning, single-read fan-out, verification.
//! - [`policy`]: 3-2-1 coverage; [`status`]: what is safe and what is at risk.
//! - [`daemon`]: `triplicate run`, automatic backup as photos arrive.
//! - [`verify`]: re-reading copies from the device, and repairing bad ones; [`scrub`]:
//!   the service's scheduled checks, every copy within `verify.every`; [`drill`]: a few
//!   photos restored from each destination every week, byte for byte.
//! - [`restore`]: bringing photos back from verified copies, never overwriting; as they
//!   were at any moment of the catalog's file history (`--as-of`).
//! - [`protection`]: letting changes held back by the mass-change guard or as possible
//!   bit rot through, once a person says so.
//! - [`prune`]: retention, the only removal of copies: old versions and deleted photos
//!   beyond an explicit policy.
//! - [`rebuild`]: a lost catalog, recreated from the destinations' manifests.
//! - [`setup`]: `init`, `library add`, `dest add` and friends.
//! - [`service`]: the running service's jobs, requested actions and announced changes,
//!   and its one-per-home lock.
//! - [`alerts`]: being told: messages when something goes wrong and when it is over
//!   (email, webhook, ntfy, Gotify, a command), pings for each pass, a digest.
//! - [`access`], [`tls`]: who may use the service (its token, one-time sign-in links);
//!   its certificate, and the pinned trust between GRID peers.
//! - [`archive`]: whole-system snapshots as `.tar.gz`, listed, verified.
//! - [`grid`]: several nodes as one: the shared change log, photo transfers to a
//!   central node, GRID-wide status.
//!
//! A complete backup, as the CLI does it:
//!
//! ```
//! use triplicate::{engine, home::{Home, Triplicate}, progress::NoProgress, setup};
//! use triplicate::destination::MediaKind;
//!
//! let tmp = tempfile::tempdir()?;
//! let (library, disk) = (tmp.path().join("photos"), tmp.path().join("usb"));
//! std::fs::create_dir_all(&library)?;
//! std::fs::create_dir_all(&disk)?;
//! std::fs::write(library.join("IMG_0001.JPG"), b"not really a jpeg")?;
//!
//! let home = Home::in_dir(&tmp.path().join("home"));
//! setup::init(&home, "laptop", &[library])?;
//! let usb = setup::NewDestination::new("usb", disk.to_str().unwrap(), MediaKind::Hdd, "onsite");
//! setup::add_destination(&home, "laptop", &usb)?;
//!
//! let t = Triplicate::open(&home)?;
//! let report = engine::backup(&t, &Default::default(), &NoProgress)?;
//! assert!(report.ok());
//! assert_eq!(report.destinations[0].copied, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod access;
pub mod alerts;
pub mod archive;
pub mod catalog;
pub mod cold;
pub mod config;
pub mod daemon;
pub mod destination;
pub mod device;
pub mod drill;
pub mod engine;
pub mod errors;
pub mod fault;
pub mod fsutil;
pub mod grid;
pub mod home;
pub mod ingest;
pub mod layout;
pub mod parallel;
pub mod photo;
pub mod policy;
pub mod progress;
pub mod protection;
pub mod prune;
pub mod rebuild;
pub mod recover;
pub mod relpath;
pub mod restore;
pub mod run;
pub mod scan;
pub mod scrub;
pub mod service;
pub mod setup;
pub mod status;
pub mod target;
pub mod throttle;
pub mod tls;
pub mod values;
pub mod verify;
pub mod vocab;
pub mod zone;

//! Writes a generated camera card: `triplicate-gencard DIR [--pairs N] [--raw-size BYTES]
//! [--jpeg-size BYTES] [--seed TEXT] [--ext CR2] [--folder 100CANON] [--flat N]`.
//!
//! `--flat N` instead writes N small files spread over date folders (for rescan
//! benchmarks on large libraries).

use std::path::PathBuf;
use std::process::ExitCode;

use triplicate_testkit::{CardSpec, write_card};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut spec = CardSpec::default();
    let mut flat: Option<usize> = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--pairs" => spec.pairs = value().parse().expect("--pairs N"),
            "--raw-size" => spec.raw_size = value().parse().expect("--raw-size BYTES"),
            "--jpeg-size" => spec.jpeg_size = value().parse().expect("--jpeg-size BYTES"),
            "--seed" => spec.seed = value(),
            "--ext" => spec.raw_ext = value(),
            "--folder" => spec.folder = value(),
            "--day" => spec.day = value(),
            "--no-sidecars" => spec.sidecars = false,
            "--flat" => flat = Some(value().parse().expect("--flat N")),
            "-h" | "--help" => {
                eprintln!(
                    "usage: triplicate-gencard DIR [--pairs N] [--raw-size BYTES] [--jpeg-size BYTES] [--seed TEXT] [--ext CR2] [--folder 100CANON] [--day YYYY:MM:DD] [--no-sidecars] [--flat N]"
                );
                return ExitCode::SUCCESS;
            }
            other if dir.is_none() => dir = Some(other.into()),
            other => {
                eprintln!("unexpected argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: triplicate-gencard DIR [options]; see --help");
        return ExitCode::from(2);
    };
    if let Some(n) = flat {
        triplicate_testkit::write_flat_library(&dir, n, &spec.seed).unwrap();
        println!("wrote {n} files under {}", dir.display());
        return ExitCode::SUCCESS;
    }
    let files = write_card(&dir, &spec).unwrap();
    let bytes: usize = files.iter().map(|f| f.bytes).sum();
    println!(
        "wrote {} files, {} MiB, under {}",
        files.len(),
        bytes >> 20,
        dir.display()
    );
    ExitCode::SUCCESS
}

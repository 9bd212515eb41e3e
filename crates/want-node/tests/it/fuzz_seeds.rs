//! The fuzz targets' committed inputs as regression tests: every seed (`fuzz/seeds/`) and every
//! reproducer of a crash once found (`fuzz/regressions/`) goes through every target's check
//! (`fuzz/checks.rs`, the same code the libFuzzer targets run), so a parser that panics on one of
//! them fails CI in a few seconds, without a fuzzer.

#[allow(dead_code)] // Shared with the fuzz targets; every check is used below.
#[path = "../../../../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// Every file under `fuzz/<dir>/`, sorted.
fn inputs(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A fuzz target's name and its check.
type Check = (&'static str, fn(&[u8]));

/// Runs every check over every input, naming the input that broke one.
fn run_all(files: &[PathBuf]) -> usize {
    let checks: [Check; 4] = [
        ("decode_transaction", checks::decode_transaction),
        ("parse_address", checks::parse_address),
        ("parse_epcis", checks::parse_epcis),
        ("open_envelope", checks::open_envelope),
    ];
    let mut runs = 0;
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (name, check) in checks {
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "fuzz check {name} panicked on {}",
                file.display()
            );
            runs += 1;
        }
    }
    runs
}

#[test]
fn every_committed_fuzz_seed_passes_every_targets_check() {
    let files = inputs("seeds");
    assert!(files.len() >= 10, "{} seeds found", files.len());
    assert_eq!(run_all(&files), files.len() * 4);
}

#[test]
fn every_crash_reproducer_once_found_stays_fixed() {
    let files = inputs("regressions");
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("parse_epcis/multibyte-event-time.json")),
        "the reproducer of the multibyte eventTime panic is committed"
    );
    assert_eq!(run_all(&files), files.len() * 4);
}

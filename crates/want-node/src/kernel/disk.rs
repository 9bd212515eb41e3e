//! The storage floor: a full disk must never look like a slow chain, and client work must never
//! take the room consensus needs.
//!
//! Every [`STORAGE_PROBE_INTERVAL_MS`] the node reads the free space of its data directory's
//! filesystem. Below the floor (`storage.free_floor_mib`) it refuses new work — transactions,
//! forwarded transactions on the leader, blob uploads, captures — with
//! `507 insufficient_storage`, and `/healthz` (503) and `/metrics` say so; reads, member traffic
//! and the blocks the cluster already ordered go on. Consensus has its own reserve besides: a
//! file of `storage.reserve_mib` allocated in the data directory while there is room. If the
//! free space still falls below the reserve's size (blocks ordered by the other members keep
//! arriving), the node deletes that file, so the block commit, the Raft log append and the
//! journal fsync get its room while the operator frees disk space; it is allocated again once
//! the free space is back above floor + reserve.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use tracing::{error, info, warn};

use crate::error::{codes, NodeError};

/// Bytes in a MiB.
pub const MIB: u64 = 1024 * 1024;
/// Default free-space floor below which new work is refused, in MiB.
pub const STORAGE_FREE_FLOOR_MIB_DEFAULT: u64 = 1_024;
/// Default size of consensus's reserve file, in MiB.
pub const STORAGE_RESERVE_MIB_DEFAULT: u64 = 64;
/// Largest reserve accepted, in MiB (64 GiB).
pub const STORAGE_RESERVE_MIB_MAX: u64 = 64 * 1_024;
/// How often the free space is read, in milliseconds.
pub const STORAGE_PROBE_INTERVAL_MS: u64 = 1_000;
/// Name of the reserve file inside the data directory.
pub const RESERVE_FILE: &str = "storage-reserve.bin";
/// Chunk written at a time when the filesystem cannot preallocate, in bytes.
const RESERVE_WRITE_CHUNK_BYTES: usize = MIB as usize;

/// What the node knows about its disk, as `/healthz` reports it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StorageStatus {
    /// Free bytes on the data directory's filesystem (for unprivileged users), last read.
    pub free_bytes: u64,
    /// The floor below which new work is refused, in bytes.
    pub floor_bytes: u64,
    /// Free space is below the floor: new work is refused with `insufficient_storage`.
    pub low: bool,
    /// Consensus's reserve file is allocated (false once it was released for consensus).
    pub reserve_held: bool,
    /// Size of the reserve, in bytes.
    pub reserve_bytes: u64,
}

/// The free-space guard of one data directory.
pub struct DiskGuard {
    dir: PathBuf,
    floor_bytes: u64,
    reserve_bytes: u64,
    free_bytes: AtomicU64,
    low: AtomicBool,
    reserve_held: AtomicBool,
    /// A free-space figure set by fault injection (tests), used instead of the filesystem's.
    injected: Mutex<Option<u64>>,
    /// Serialises probes (the periodic one and an injection's immediate one).
    probing: Mutex<()>,
}

impl DiskGuard {
    /// A guard of `dir`; reads the free space once and allocates the reserve if there is room.
    pub fn open(dir: &Path, floor_mib: u64, reserve_mib: u64) -> Result<DiskGuard, NodeError> {
        let guard = DiskGuard {
            dir: dir.to_path_buf(),
            floor_bytes: floor_mib.saturating_mul(MIB),
            reserve_bytes: reserve_mib.saturating_mul(MIB),
            free_bytes: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
            reserve_held: AtomicBool::new(false),
            injected: Mutex::new(None),
            probing: Mutex::new(()),
        };
        let reserve = guard.reserve_path();
        let held = std::fs::metadata(&reserve)
            .map(|m| m.len() >= guard.reserve_bytes)
            .unwrap_or(false);
        guard.reserve_held.store(held, Ordering::Relaxed);
        guard.refresh()?;
        if guard.low.load(Ordering::Relaxed) {
            warn!(target: "storage", "{}", guard.low_message());
        }
        Ok(guard)
    }

    fn reserve_path(&self) -> PathBuf {
        self.dir.join(RESERVE_FILE)
    }

    /// Free bytes of the data directory's filesystem available to this process (or the
    /// injected figure).
    fn probe(&self) -> Result<u64, NodeError> {
        if let Some(free) = *self.injected.lock() {
            return Ok(free);
        }
        let st = rustix::fs::statvfs(&self.dir).map_err(|e| {
            NodeError::Io(format!(
                "reading the free space of {}: {e}",
                self.dir.display()
            ))
        })?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Reads the free space again, updates the low flag, and releases or allocates the
    /// reserve. Returns the status.
    pub fn refresh(&self) -> Result<StorageStatus, NodeError> {
        let _probing = self.probing.lock();
        let mut free = self.probe()?;
        let held = self.reserve_held.load(Ordering::Relaxed);
        if held && free < self.reserve_bytes {
            match std::fs::remove_file(self.reserve_path()) {
                Ok(()) => {
                    self.reserve_held.store(false, Ordering::Relaxed);
                    error!(target: "storage", "only {free} bytes free in {}: released consensus's reserve of {} bytes so that blocks already ordered can still be stored; free disk space now", self.dir.display(), self.reserve_bytes);
                    free = self.probe()?;
                }
                Err(e) => {
                    error!(target: "storage", "could not release the storage reserve {}: {e}", self.reserve_path().display())
                }
            }
        } else if !held
            && self.reserve_bytes > 0
            && free >= self.floor_bytes.saturating_add(self.reserve_bytes)
        {
            match allocate(&self.reserve_path(), self.reserve_bytes) {
                Ok(()) => {
                    self.reserve_held.store(true, Ordering::Relaxed);
                    info!(target: "storage", "allocated consensus's storage reserve of {} bytes ({})", self.reserve_bytes, self.reserve_path().display());
                    free = self.probe()?;
                }
                Err(e) => {
                    let _ = std::fs::remove_file(self.reserve_path());
                    warn!(target: "storage", "could not allocate the storage reserve {}: {e}", self.reserve_path().display())
                }
            }
        }
        let was_low = self.low.load(Ordering::Relaxed);
        let low = free < self.floor_bytes;
        self.free_bytes.store(free, Ordering::Relaxed);
        self.low.store(low, Ordering::Relaxed);
        if low && !was_low {
            warn!(target: "storage", "{}", self.low_message());
        } else if was_low && !low {
            info!(target: "storage", "{free} bytes free in {}: above the floor again, new work is accepted", self.dir.display());
        }
        Ok(self.status())
    }

    /// The status as last read.
    pub fn status(&self) -> StorageStatus {
        StorageStatus {
            free_bytes: self.free_bytes.load(Ordering::Relaxed),
            floor_bytes: self.floor_bytes,
            low: self.low.load(Ordering::Relaxed),
            reserve_held: self.reserve_held.load(Ordering::Relaxed),
            reserve_bytes: self.reserve_bytes,
        }
    }

    /// Whether the free space is below the floor.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    fn low_message(&self) -> String {
        format!(
            "only {} MiB free on the filesystem of the data directory {}, below the floor of {} MiB (setting storage.free_floor_mib): new transactions, blob uploads and captures are refused until disk space is freed; reads and the cluster's blocks go on",
            self.free_bytes.load(Ordering::Relaxed) / MIB,
            self.dir.display(),
            self.floor_bytes / MIB
        )
    }

    /// `Ok` while there is room for new work; `insufficient_storage` (507) below the floor.
    pub fn check_room(&self) -> Result<(), NodeError> {
        if self.is_low() {
            return Err(NodeError::rejected(
                codes::INSUFFICIENT_STORAGE,
                self.low_message(),
            ));
        }
        Ok(())
    }

    /// Sets (or with `None` clears) an injected free-space figure and reads it at once (fault
    /// tests only).
    pub fn inject_free_bytes(&self, free: Option<u64>) -> Result<StorageStatus, NodeError> {
        *self.injected.lock() = free;
        self.refresh()
    }
}

/// Allocates `len` bytes for `path` (preallocated where the filesystem can, written with zeros
/// where it cannot) and syncs it.
fn allocate(path: &Path, len: u64) -> std::io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    #[cfg(target_os = "linux")]
    let preallocated =
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len).is_ok();
    #[cfg(not(target_os = "linux"))]
    let preallocated = false;
    if !preallocated {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(&file);
        let chunk = vec![0u8; RESERVE_WRITE_CHUNK_BYTES];
        let mut left = len;
        while left > 0 {
            let n = left.min(RESERVE_WRITE_CHUNK_BYTES as u64) as usize;
            w.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        w.flush()?;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_floor_new_work_is_refused_and_above_it_accepted_again() {
        let dir = tempfile::tempdir().unwrap();
        let g = DiskGuard::open(dir.path(), 100, 1).unwrap();
        g.inject_free_bytes(Some(99 * MIB)).unwrap();
        let e = g.check_room().unwrap_err();
        assert_eq!(e.code(), codes::INSUFFICIENT_STORAGE);
        assert_eq!(e.http_status(), 507);
        assert!(e.to_string().contains("storage.free_floor_mib"), "{e}");
        assert!(g.status().low);
        g.inject_free_bytes(Some(101 * MIB)).unwrap();
        assert!(g.check_room().is_ok());
        assert!(!g.status().low);
    }

    #[test]
    fn the_reserve_is_released_when_the_disk_is_nearly_full_and_taken_again_with_room() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = dir.path().join(RESERVE_FILE);
        let g = DiskGuard::open(dir.path(), 0, 1).unwrap();
        if rustix::fs::statvfs(dir.path()).unwrap().f_bavail == 0 {
            return; // a full disk here: nothing to allocate
        }
        assert!(g.status().reserve_held, "{:?}", g.status());
        assert_eq!(std::fs::metadata(&reserve).unwrap().len(), MIB);
        g.inject_free_bytes(Some(MIB / 2)).unwrap();
        assert!(!g.status().reserve_held);
        assert!(!reserve.exists());
        g.inject_free_bytes(Some(2 * MIB)).unwrap();
        assert!(g.status().reserve_held);
        assert!(reserve.exists());
    }

    #[test]
    fn a_reserve_left_by_a_previous_run_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        allocate(&dir.path().join(RESERVE_FILE), MIB).unwrap();
        let g = DiskGuard::open(dir.path(), 0, 1).unwrap();
        assert!(g.status().reserve_held);
    }

    #[test]
    fn the_real_free_space_is_read_from_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let g = DiskGuard::open(dir.path(), 0, 0).unwrap();
        let st = rustix::fs::statvfs(dir.path()).unwrap();
        let expected = st.f_bavail * st.f_frsize;
        let got = g.status().free_bytes;
        // Other processes write meanwhile: the same order of magnitude, not the same byte.
        assert!(got > 0 && got.abs_diff(expected) < expected / 10 + 64 * MIB);
    }
}

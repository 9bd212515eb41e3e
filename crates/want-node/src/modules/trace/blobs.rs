//! The embedded content-addressed blob store: files named by their CIDv1 (raw, sha2-256), under
//! `<data_dir>/blobs/<shard>/<cid>`, where the shard is the CID's last two characters.
//!
//! A put writes a temporary file beside the final one, syncs it, renames it into place and syncs
//! the directory, so a crash leaves either the whole blob or none (plus, at worst, a stray
//! `.tmp-…` file). Every get re-hashes the bytes: a file that no longer matches its CID is reported
//! as [`NodeError::BlobTampered`], never returned.
//!
//! `verify` asks only whether a blob is intact ([`BlobStore::check`]); the answer for a file that
//! has not changed since it was last hashed (same size, inode, modification and status-change
//! times) is remembered, so verifying a product does not re-read every record it names.
//!
//! The last character of a canonical CIDv1 raw sha2-256 carries only 3 bits (36 bytes make 57.6
//! base32 characters), so there are 32 × 8 = 256 shards.
//!
//! A file that cannot be read (too many open files, an I/O error of the disk) is not a damaged
//! one: `get` answers `blob_unavailable` (503) and `check` [`BlobCheck::Unavailable`], so that an
//! overloaded node never calls an intact record tampered.
//!
//! The orphan collector deletes through [`BlobStore::remove_if_orphan`], which checks the blob's
//! age and whether it is referenced under the lock every put holds: a put of the same bytes
//! (which makes the blob young again for the record about to reference it) lands either before
//! the check, and the blob is kept, or after the delete, and stores it anew.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use want_crypto::{parse_cid, ParsedCid};

use crate::error::NodeError;
use want_state::trace::codes;

/// Largest blob the store accepts, in bytes (16 MiB).
pub const BLOB_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Name of the store's directory inside the node's data directory.
pub const BLOBS_DIR_NAME: &str = "blobs";
/// Number of trailing CID characters naming a blob's shard directory.
pub const SHARD_CHARS: usize = 2;
/// Prefix of the temporary files a put writes before renaming them into place.
const TEMP_PREFIX: &str = ".tmp-";

/// Most intact blobs [`BlobStore::check`] remembers before it starts over.
pub const BLOB_CHECK_CACHE_ENTRIES_MAX: usize = 100_000;
/// How long a file must have been unchanged, in milliseconds, before [`BlobStore::check`]
/// remembers it: file times advance in clock ticks, so a write within the tick of the last
/// hashing could leave them unchanged (git's "racy" index entries).
pub const BLOB_CHECK_SETTLE_MS: i128 = 2_000;

/// Age after which a temporary file of an interrupted put is deleted, in milliseconds.
pub const STALE_TEMP_AGE_MS: u64 = 60 * 60 * 1000;

/// Distinguishes the temporary files of concurrent puts within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A content-addressed store of blobs up to [`BLOB_BYTES_MAX`] bytes, safe to share between
/// threads (each put writes its own temporary file; the rename into place is atomic).
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    /// Files found intact, by CID, with the stamp they had when hashed.
    intact: Arc<parking_lot::Mutex<HashMap<String, FileStamp>>>,
    /// Held shared by every put and exclusively by the orphan collector's check-and-delete.
    gc: Arc<parking_lot::RwLock<()>>,
}

/// What a blob's stored bytes are, as far as its CID tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobCheck {
    /// Present and its bytes hash to its CID.
    Intact,
    /// Not in this node's store.
    Missing,
    /// Present, but its bytes do not match its CID (or it is not a regular file).
    Tampered,
    /// Present or not, it cannot be read now (an I/O error such as too many open files): its
    /// content is unknown, neither intact nor tampered.
    Unavailable,
}

/// What an I/O error while looking at a blob's file says about the blob: absent if the file is
/// not there, unknown (unavailable) otherwise — never tampered, which only its bytes can show.
fn check_of_io_error(e: &io::Error) -> BlobCheck {
    if e.kind() == io::ErrorKind::NotFound {
        BlobCheck::Missing
    } else {
        BlobCheck::Unavailable
    }
}

/// What a blob's bytes, read in full, say: intact if they hash to its CID, tampered otherwise.
fn check_of_bytes(cid: &ParsedCid, bytes: &[u8]) -> BlobCheck {
    if bytes.len() <= BLOB_BYTES_MAX && cid.matches(bytes) {
        BlobCheck::Intact
    } else {
        BlobCheck::Tampered
    }
}

/// The refusal of a read that failed with an I/O error (code `blob_unavailable`, 503).
fn unavailable(cid: &str, e: &io::Error) -> NodeError {
    NodeError::rejected(
        codes::BLOB_UNAVAILABLE,
        format!("blob {cid} cannot be read now ({e}); retry later"),
    )
}

/// What identifies a file's content without reading it: device, inode, size and times. Every
/// write through the file system changes the status-change time, which users cannot set back
/// (file systems whose times are not kept by the kernel, such as some FUSE or network ones, or a
/// clock set back by root, weaken this; the blob is then still hashed on every `get`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        FileStamp {
            len: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// True when the file has been unchanged long enough to be remembered.
    fn settled(&self) -> bool {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
            .unwrap_or(0);
        let newest = self.mtime_ns.max(self.ctime_ns);
        now_ns.saturating_sub(newest) >= BLOB_CHECK_SETTLE_MS * 1_000_000
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> NodeError {
    NodeError::Io(format!("blob store: cannot {what} {}: {e}", path.display()))
}

fn invalid_cid(e: want_crypto::CryptoError) -> NodeError {
    NodeError::rejected(codes::INVALID_CID, e.to_string())
}

/// Syncs a directory so that a rename or creation inside it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), NodeError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync directory", dir, e))
}

impl BlobStore {
    /// Opens the store in `<data_dir>/blobs/`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<BlobStore, NodeError> {
        let root = data_dir.join(BLOBS_DIR_NAME);
        fs::create_dir_all(&root).map_err(|e| io_error("create directory", &root, e))?;
        Ok(BlobStore {
            root,
            intact: Arc::default(),
            gc: Arc::default(),
        })
    }

    /// The store's directory (`<data_dir>/blobs`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn shard_dir(&self, cid: &ParsedCid) -> (PathBuf, String) {
        let name = cid.to_string();
        let shard = &name[name.len() - SHARD_CHARS..];
        (self.root.join(shard), name)
    }

    fn path_of_parsed(&self, cid: &ParsedCid) -> PathBuf {
        let (dir, name) = self.shard_dir(cid);
        dir.join(name)
    }

    /// Where the blob named `cid` is (or would be) stored. Refuses anything but a canonical
    /// CIDv1 raw sha2-256 (code `invalid_cid`).
    pub fn path_of(&self, cid: &str) -> Result<PathBuf, NodeError> {
        let parsed = parse_cid(cid).map_err(invalid_cid)?;
        Ok(self.path_of_parsed(&parsed))
    }

    /// Stores `bytes` and returns their CID. Refuses blobs over [`BLOB_BYTES_MAX`] (code
    /// `blob_too_large`). Storing a blob already present does nothing; a present but damaged
    /// copy is replaced.
    pub fn put(&self, bytes: &[u8]) -> Result<String, NodeError> {
        if bytes.len() > BLOB_BYTES_MAX {
            return Err(NodeError::rejected(
                codes::BLOB_TOO_LARGE,
                format!(
                    "blob of {} bytes is refused: the limit is {BLOB_BYTES_MAX} bytes",
                    bytes.len()
                ),
            ));
        }
        let cid = ParsedCid::of(bytes);
        let (dir, name) = self.shard_dir(&cid);
        // Held until the blob is in place (or made young again): see `remove_if_orphan`.
        let _gc = self.gc.read();
        let path = dir.join(&name);
        if let Ok(Some(existing)) = read_bounded(&path) {
            if existing == bytes {
                // Stored again: young again, so the orphan collector leaves it to the record
                // about to reference it.
                if let Ok(f) = OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_modified(std::time::SystemTime::now());
                }
                return Ok(name);
            }
        }
        let new_shard = !dir.exists();
        fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        if new_shard {
            sync_dir(&self.root)?;
        }
        let temp = dir.join(format!(
            "{TEMP_PREFIX}{name}-{}-{}-{:016x}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u64>()
        ));
        let written = write_synced(&temp, bytes).and_then(|()| {
            fs::rename(&temp, &path).map_err(|e| io_error("rename into place", &temp, e))
        });
        if let Err(e) = written {
            // Best effort: the temporary file is useless now; the original error matters more.
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        sync_dir(&dir)?;
        Ok(name)
    }

    /// The blob named `cid`, or `None` if it is not stored. Refuses a malformed CID (code
    /// `invalid_cid`); a stored file whose bytes do not hash to `cid` gives
    /// [`NodeError::BlobTampered`]; a file that cannot be read gives `blob_unavailable`.
    pub fn get(&self, cid: &str) -> Result<Option<Vec<u8>>, NodeError> {
        let parsed = parse_cid(cid).map_err(invalid_cid)?;
        let path = self.path_of_parsed(&parsed);
        let bytes = match read_bounded(&path) {
            Ok(None) => return Ok(None),
            Ok(Some(bytes)) => bytes,
            Err(e) => return Err(unavailable(cid, &e)),
        };
        match check_of_bytes(&parsed, &bytes) {
            BlobCheck::Intact => Ok(Some(bytes)),
            _ => Err(NodeError::BlobTampered {
                cid: parsed.to_string(),
            }),
        }
    }

    /// Whether the blob `cid` is intact, missing, tampered or, when its file cannot be read
    /// now, unavailable. A file unchanged since it was last found intact is not hashed again.
    pub fn check(&self, cid: &str) -> BlobCheck {
        let Ok(parsed) = parse_cid(cid) else {
            return BlobCheck::Tampered;
        };
        let path = self.path_of_parsed(&parsed);
        // The path itself, not what a link there points to: only a regular file is a blob.
        let stamp = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_file() => FileStamp::of(&meta),
            Ok(_) => return BlobCheck::Tampered,
            Err(e) => return check_of_io_error(&e),
        };
        if self.intact.lock().get(cid) == Some(&stamp) {
            return BlobCheck::Intact;
        }
        // Hash the file through one handle, and remember the stamp only if that handle's file
        // is the one the path named and it did not change while being read (nor within the
        // last ticks).
        let read = File::open(&path).and_then(|file| {
            let before = FileStamp::of(&file.metadata()?);
            let bytes = read_bounded_from(&file)?;
            let after = file.metadata().map(|m| FileStamp::of(&m)).ok();
            Ok((before, bytes, after))
        });
        let (before, bytes, after) = match read {
            Ok(read) => read,
            Err(e) => return check_of_io_error(&e),
        };
        let found = check_of_bytes(&parsed, &bytes);
        if found != BlobCheck::Intact {
            return found;
        }
        if after == Some(before) && before == stamp && stamp.settled() {
            let mut intact = self.intact.lock();
            if intact.len() >= BLOB_CHECK_CACHE_ENTRIES_MAX {
                intact.clear();
            }
            intact.insert(cid.to_string(), stamp);
        }
        BlobCheck::Intact
    }

    /// The CIDs of stored blobs not modified for `age_ms` before `now_ms`, and deletes the
    /// temporary files of interrupted puts older than [`STALE_TEMP_AGE_MS`].
    pub fn older_than(&self, age_ms: u64, now_ms: u64) -> Result<Vec<String>, NodeError> {
        let age_of = |meta: &fs::Metadata| age_of(meta, now_ms);
        let mut old = Vec::new();
        let shards = fs::read_dir(&self.root).map_err(|e| io_error("list", &self.root, e))?;
        for shard in shards.flatten() {
            if !shard.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = shard.path();
            let entries = fs::read_dir(&dir).map_err(|e| io_error("list", &dir, e))?;
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) {
                    if age_of(&meta) >= STALE_TEMP_AGE_MS {
                        let _ = fs::remove_file(entry.path());
                    }
                } else if meta.is_file() && age_of(&meta) >= age_ms && parse_cid(&name).is_ok() {
                    old.push(name);
                }
            }
        }
        old.sort();
        Ok(old)
    }

    /// Deletes the blob `cid`; false if it was not stored.
    pub fn remove(&self, cid: &str) -> Result<bool, NodeError> {
        let path = self.path_of(cid)?;
        let removed = self.unlink(cid, &path)?;
        if removed {
            sync_parent(&path)?;
        }
        Ok(removed)
    }

    fn unlink(&self, cid: &str, path: &Path) -> Result<bool, NodeError> {
        self.intact.lock().remove(cid);
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("delete", path, e)),
        }
    }

    /// Deletes the blob `cid` if, checked under the lock every put holds, its file is still
    /// unmodified for `age_ms` before `now_ms` and `referenced` (asked last, under the same lock)
    /// says no record or document names it. A put of the same bytes therefore either lands
    /// before (the blob is young again and kept) or after the delete (and stores it anew); it
    /// never returns with the blob about to vanish. True if deleted.
    pub fn remove_if_orphan(
        &self,
        cid: &str,
        age_ms: u64,
        now_ms: u64,
        referenced: impl FnOnce() -> Result<bool, NodeError>,
    ) -> Result<bool, NodeError> {
        let path = self.path_of(cid)?;
        let removed = {
            let _gc = self.gc.write();
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io_error("look at", &path, e)),
            };
            if !meta.is_file() || age_of(&meta, now_ms) < age_ms || referenced()? {
                return Ok(false);
            }
            self.unlink(cid, &path)?
        };
        if removed {
            sync_parent(&path)?;
        }
        Ok(removed)
    }

    /// Whether a blob named `cid` is stored (its content is checked only by [`BlobStore::get`]).
    /// Refuses a malformed CID (code `invalid_cid`).
    pub fn contains(&self, cid: &str) -> Result<bool, NodeError> {
        let path = self.path_of(cid)?;
        path.try_exists()
            .map_err(|e| io_error("look for", &path, e))
    }
}

/// How long before `now_ms` a file was last modified, in milliseconds (0 if its time is unknown
/// or ahead of `now_ms`).
fn age_of(meta: &fs::Metadata, now_ms: u64) -> u64 {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    now_ms.saturating_sub(modified)
}

/// Syncs the directory holding `path` (after a delete).
fn sync_parent(path: &Path) -> Result<(), NodeError> {
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Writes `bytes` to a new file at `path` and syncs it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_error("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", path, e))
}

/// Reads at most [`BLOB_BYTES_MAX`] + 1 bytes of `path` (one more than a valid blob can have, so
/// that an overlong file is seen as damaged without reading all of it); `None` if absent.
fn read_bounded(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    read_bounded_from(&file).map(Some)
}

/// Reads an open file up to one byte past [`BLOB_BYTES_MAX`] (so an overlong file shows).
fn read_bounded_from(file: &File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(BLOB_BYTES_MAX + 1).expect("invariant: BLOB_BYTES_MAX fits in u64");
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        (dir, store)
    }

    const HELLO_WORLD_CID: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";

    #[test]
    fn put_returns_the_ipfs_cid_and_get_returns_the_bytes() {
        let (dir, store) = store();
        let cid = store.put(b"hello world").unwrap();
        assert_eq!(cid, HELLO_WORLD_CID);
        assert_eq!(store.get(&cid).unwrap().unwrap(), b"hello world");
        assert!(store.contains(&cid).unwrap());
        assert_eq!(
            store.path_of(&cid).unwrap(),
            dir.path().join("blobs").join("5e").join(HELLO_WORLD_CID)
        );
        assert!(store.path_of(&cid).unwrap().is_file());
    }

    #[test]
    fn empty_blob_round_trips() {
        let (_dir, store) = store();
        let cid = store.put(b"").unwrap();
        assert_eq!(store.get(&cid).unwrap().unwrap(), b"");
    }

    #[test]
    fn putting_the_same_bytes_twice_is_idempotent() {
        let (_dir, store) = store();
        let a = store.put(b"pallet manifest").unwrap();
        let b = store.put(b"pallet manifest").unwrap();
        assert_eq!(a, b);
        let shard = store.path_of(&a).unwrap().parent().unwrap().to_path_buf();
        let names: Vec<_> = fs::read_dir(shard).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn missing_blob_is_none() {
        let (_dir, store) = store();
        assert!(store.get(HELLO_WORLD_CID).unwrap().is_none());
        assert!(!store.contains(HELLO_WORLD_CID).unwrap());
    }

    #[test]
    fn tampered_file_is_reported_and_never_returned() {
        let (_dir, store) = store();
        let cid = store.put(b"hello world").unwrap();
        fs::write(store.path_of(&cid).unwrap(), b"hello w0rld").unwrap();
        let err = store.get(&cid).unwrap_err();
        assert!(
            matches!(&err, NodeError::BlobTampered { cid: c } if c == &cid),
            "{err}"
        );
        assert_eq!(err.code(), codes::BLOB_TAMPERED);
        assert_eq!(err.http_status(), 500);
        assert!(err.to_string().contains(&cid), "{err}");
    }

    #[test]
    fn check_finds_a_blob_edited_after_it_was_found_intact() {
        let (dir, store) = store();
        let cid = store.put(b"pallet 42 read at dock 3").unwrap();
        assert_eq!(store.check(HELLO_WORLD_CID), BlobCheck::Missing);
        assert_eq!(store.check("not-a-cid"), BlobCheck::Tampered);
        assert_eq!(store.check(&cid), BlobCheck::Intact);
        // Once the file has settled its intact state is remembered; an edit of the same length
        // (new status-change time) is still caught.
        std::thread::sleep(std::time::Duration::from_millis(
            u64::try_from(BLOB_CHECK_SETTLE_MS).unwrap() + 100,
        ));
        assert_eq!(store.check(&cid), BlobCheck::Intact);
        assert!(
            store.intact.lock().contains_key(&cid),
            "remembered once settled"
        );
        let path = store.path_of(&cid).unwrap();
        std::fs::write(&path, b"pallet 43 read at dock 3").unwrap();
        assert_eq!(store.check(&cid), BlobCheck::Tampered);
        std::fs::write(&path, b"pallet 42 read at dock 3").unwrap();
        assert_eq!(store.check(&cid), BlobCheck::Intact);
        // A link in place of the file is not a blob, whatever it points to.
        let elsewhere = dir.path().join("intact-copy");
        std::fs::write(&elsewhere, b"pallet 42 read at dock 3").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(store.check(&cid), BlobCheck::Tampered);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.check(&cid), BlobCheck::Missing);
    }

    /// EMFILE: the process has too many open files.
    const EMFILE: i32 = 24;

    #[test]
    fn an_io_error_is_unavailable_and_only_a_content_mismatch_is_tampered() {
        let too_many_files = io::Error::from_raw_os_error(EMFILE);
        assert_eq!(check_of_io_error(&too_many_files), BlobCheck::Unavailable);
        let disk = io::Error::other("input/output error");
        assert_eq!(check_of_io_error(&disk), BlobCheck::Unavailable);
        let gone = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(check_of_io_error(&gone), BlobCheck::Missing);
        let cid = ParsedCid::of(b"hello world");
        assert_eq!(check_of_bytes(&cid, b"hello world"), BlobCheck::Intact);
        assert_eq!(check_of_bytes(&cid, b"hello w0rld"), BlobCheck::Tampered);
        let err = unavailable(HELLO_WORLD_CID, &too_many_files);
        assert_eq!(err.code(), codes::BLOB_UNAVAILABLE);
        assert_eq!(err.http_status(), 503);
    }

    #[test]
    fn a_blob_that_cannot_be_read_is_unavailable_not_tampered() {
        let (_dir, store) = store();
        let cid = store.put(b"hello world").unwrap();
        // A directory in the blob's place: opening it works, reading it fails (EISDIR).
        let path = store.path_of(&cid).unwrap();
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        let err = store.get(&cid).unwrap_err();
        assert_eq!(err.code(), codes::BLOB_UNAVAILABLE, "{err}");
        assert_eq!(err.http_status(), 503);
        assert!(err.to_string().contains(&cid), "{err}");
    }

    #[test]
    fn truncated_and_overlong_files_are_tampered() {
        let (_dir, store) = store();
        let cid = store.put(b"hello world").unwrap();
        let path = store.path_of(&cid).unwrap();
        fs::write(&path, b"").unwrap();
        assert!(matches!(
            store.get(&cid),
            Err(NodeError::BlobTampered { .. })
        ));
        fs::write(&path, vec![0u8; BLOB_BYTES_MAX + 10]).unwrap();
        assert!(matches!(
            store.get(&cid),
            Err(NodeError::BlobTampered { .. })
        ));
    }

    #[test]
    fn put_repairs_a_tampered_copy() {
        let (_dir, store) = store();
        let cid = store.put(b"hello world").unwrap();
        fs::write(store.path_of(&cid).unwrap(), b"junk").unwrap();
        assert_eq!(store.put(b"hello world").unwrap(), cid);
        assert_eq!(store.get(&cid).unwrap().unwrap(), b"hello world");
    }

    #[test]
    fn oversize_blob_is_refused_and_the_limit_itself_is_accepted() {
        let (_dir, store) = store();
        let err = store.put(&vec![1u8; BLOB_BYTES_MAX + 1]).unwrap_err();
        assert_eq!(err.code(), codes::BLOB_TOO_LARGE);
        assert_eq!(err.http_status(), 413);
        let cid = store.put(&vec![1u8; BLOB_BYTES_MAX]).unwrap();
        assert_eq!(store.get(&cid).unwrap().unwrap().len(), BLOB_BYTES_MAX);
    }

    #[test]
    fn malformed_cids_are_refused_with_invalid_cid() {
        let (_dir, store) = store();
        for bad in [
            "",
            "not-a-cid",
            "../../etc/passwd",
            "QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4",
            &HELLO_WORLD_CID.to_uppercase(),
        ] {
            let err = store.get(bad).unwrap_err();
            assert_eq!(err.code(), codes::INVALID_CID, "{bad}: {err}");
            assert_eq!(err.http_status(), 400);
            assert_eq!(store.contains(bad).unwrap_err().code(), codes::INVALID_CID);
            assert_eq!(store.path_of(bad).unwrap_err().code(), codes::INVALID_CID);
        }
    }

    #[test]
    fn concurrent_puts_of_the_same_blob_are_safe() {
        let (_dir, store) = store();
        let store = Arc::new(store);
        let blob: Arc<Vec<u8>> = Arc::new((0..256 * 1024).map(|i| (i % 251) as u8).collect());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                let blob = Arc::clone(&blob);
                std::thread::spawn(move || {
                    (0..5)
                        .map(|_| store.put(&blob).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let cids: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert!(cids.iter().all(|c| c == &cids[0]));
        assert_eq!(store.get(&cids[0]).unwrap().unwrap(), *blob);
        let shard = store
            .path_of(&cids[0])
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let names: Vec<_> = fs::read_dir(shard).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn reopening_finds_stored_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cid = BlobStore::open(dir.path()).unwrap().put(b"kept").unwrap();
        let reopened = BlobStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&cid).unwrap().unwrap(), b"kept");
    }
}

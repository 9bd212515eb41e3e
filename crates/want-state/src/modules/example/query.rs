//! Reads of the example module: a note, and the notes a page at a time.

use want_types::Address;

use super::{Note, NOTE_PREFIX};
use crate::store::{page, Page};
use crate::{StateError, StateView};

pub use super::note;

/// Most notes one page of [`notes`] returns.
pub const NOTES_PAGE_MAX: usize = 100;

/// Notes by author address, at most `limit` (clamped to [`NOTES_PAGE_MAX`]) after `after`.
pub fn notes(
    view: &dyn StateView,
    after: Option<&Address>,
    limit: usize,
) -> Result<Page<(Address, Note), Address>, StateError> {
    page(
        view,
        NOTE_PREFIX,
        after.map(|a| &a.0[..]),
        limit.clamp(1, NOTES_PAGE_MAX),
        |k, v| {
            let raw = <[u8; want_types::address::ADDRESS_LEN]>::try_from(&k[NOTE_PREFIX.len()..])
                .map_err(|_| StateError::corrupt(k, "note key without its author"))?;
            let n: Note =
                borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("note: {e}")))?;
            Ok((Address(raw), n))
        },
        |(a, _)| *a,
    )
}

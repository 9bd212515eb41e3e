//! Reads of the example module: a note, and the notes a page at a time.

use want_types::Address;

use super::{Note, NOTE_PREFIX};
use crate::store::key_after;
use crate::{StateError, StateView};

pub use super::note;

/// Most notes one page of [`notes`] returns.
pub const NOTES_PAGE_MAX: usize = 100;

/// One page of notes and the author to continue after.
pub type NotesPage = (Vec<(Address, Note)>, Option<Address>);

/// Notes by author address, at most `limit` (clamped to [`NOTES_PAGE_MAX`]) after `after`.
pub fn notes(
    view: &dyn StateView,
    after: Option<&Address>,
    limit: usize,
) -> Result<NotesPage, StateError> {
    let limit = limit.clamp(1, NOTES_PAGE_MAX);
    let start = after.map(|a| key_after(&[NOTE_PREFIX, &a.0].concat()));
    let entries = view.range(NOTE_PREFIX, start.as_deref(), limit + 1)?;
    let mut out = Vec::new();
    for (k, v) in entries.iter().take(limit) {
        let raw = <[u8; want_types::address::ADDRESS_LEN]>::try_from(&k[NOTE_PREFIX.len()..])
            .map_err(|_| StateError::corrupt(k, "note key without its author"))?;
        let n: Note =
            borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("note: {e}")))?;
        out.push((Address(raw), n));
    }
    let next = (entries.len() > limit).then(|| out.last().map(|(a, _)| *a)).flatten();
    Ok((out, next))
}

//! Key-value access: the read-only [`StateView`] the caller provides, the [`WriteSet`] a block
//! produces, an in-memory [`MemState`], and the copy-on-write overlay used during execution.

use std::cell::RefCell;
use std::collections::BTreeMap;

use foldhash::HashMap;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::StateError;

/// One state entry: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Read access to state at one point in time. Implemented by the storage crate over one database
/// read transaction (so every read of a query sees the same state), and here by `BTreeMap`,
/// [`MemState`] and the execution overlay.
pub trait StateView {
    /// The value stored under `key`, or `None` when absent.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Up to `limit` entries whose key starts with `prefix` and is at or after `start` (`prefix`
    /// itself when `None` or when `start` sorts before it), in key order: one page of a range.
    /// Callers bound `limit` by a named page size; the next page starts after the last key
    /// ([`key_after`]).
    fn range(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError>;
}

/// The smallest key sorting after `key`: where the page after one ending at `key` starts.
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.extend_from_slice(key);
    k.push(0);
    k
}

/// One page of a list, and where the next one starts (`None`: this was the last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// One page of the entries under `prefix` whose key sorts after `prefix ‖ after` (from the
/// first when `None`), at most `limit`, each decoded by `decode(key, value)` (a corrupt entry
/// is an error, never skipped); the next page's cursor is `cursor` of the last item, when more
/// entries follow.
pub fn page<T, C>(
    view: &dyn StateView,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
    mut decode: impl FnMut(&[u8], &[u8]) -> Result<T, StateError>,
    cursor: impl Fn(&T) -> C,
) -> Result<Page<T, C>, StateError> {
    let start = after.map(|a| key_after(&[prefix, a].concat()));
    let entries = view.range(prefix, start.as_deref(), limit.saturating_add(1))?;
    let mut items = Vec::with_capacity(entries.len().min(limit));
    for (k, v) in entries.iter().take(limit) {
        items.push(decode(k, v)?);
    }
    let next = if entries.len() > limit {
        items.last().map(cursor)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// Where a range read starts: `start` if it sorts after `prefix`, else `prefix`.
pub fn range_from<'a>(prefix: &'a [u8], start: Option<&'a [u8]>) -> &'a [u8] {
    match start {
        Some(s) if s > prefix => s,
        _ => prefix,
    }
}

/// A page of a sorted map's range (for the in-memory views).
fn btree_range(
    map: &BTreeMap<Vec<u8>, Vec<u8>>,
    prefix: &[u8],
    start: Option<&[u8]>,
    limit: usize,
) -> Vec<Entry> {
    map.range::<[u8], _>((
        std::ops::Bound::Included(range_from(prefix, start)),
        std::ops::Bound::Unbounded,
    ))
    .take_while(|(k, _)| k.starts_with(prefix))
    .take(limit)
    .map(|(k, v)| (k.clone(), v.clone()))
    .collect()
}

impl StateView for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(BTreeMap::get(self, key).cloned())
    }

    fn range(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError> {
        Ok(btree_range(self, prefix, start, limit))
    }
}

impl<T: StateView + ?Sized> StateView for &T {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }

    fn range(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError> {
        (**self).range(prefix, start, limit)
    }
}

/// The changes of a block (or of genesis): key → new value, `None` meaning delete.
///
/// Sorted by key, so its borsh encoding — and hence the state root — is deterministic. After
/// [`crate::apply_block`] it holds only real changes: a key rewritten with its old value, or
/// deleted while absent, is left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WriteSet(pub BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Whole state in memory: for tests, genesis tooling and audits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl MemState {
    pub fn new() -> MemState {
        MemState::default()
    }

    /// Applies a write set: puts every `Some`, deletes every `None`.
    pub fn apply(&mut self, ws: &WriteSet) {
        for (key, value) in &ws.0 {
            match value {
                Some(v) => {
                    self.0.insert(key.clone(), v.clone());
                }
                None => {
                    self.0.remove(key);
                }
            }
        }
    }

    /// All entries whose key starts with `prefix`, in key order.
    pub fn iter_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
        self.0
            .range::<[u8], _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }
}

impl StateView for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key).cloned())
    }

    fn range(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError> {
        Ok(btree_range(&self.0, prefix, start, limit))
    }
}

/// Values a layer read from its base: key → value (`None`: absent).
type BaseReads = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// A layer's writes: key → new value (`None`: delete). Unordered while a block executes (keys
/// share long prefixes, which makes ordered lookups compare many bytes); sorted once at the end.
pub(crate) type Changes = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Copy-on-write layer over a view: reads see its own writes first. One per block, and nested
/// ones per transaction so a failed call can be discarded by dropping its overlay.
pub(crate) struct Overlay<'a> {
    base: &'a dyn StateView,
    changes: Changes,
    /// With [`Overlay::remembering_reads`]: what the base held for every key read through this
    /// layer, so the block can tell real changes from rewrites without reading storage again.
    base_reads: Option<RefCell<BaseReads>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a dyn StateView) -> Overlay<'a> {
        Overlay {
            base,
            changes: Changes::default(),
            base_reads: None,
        }
    }

    /// A layer that also remembers the base's value of every key it reads (the block layer,
    /// whose base is an immutable snapshot).
    pub(crate) fn remembering_reads(base: &'a dyn StateView) -> Overlay<'a> {
        Overlay {
            base,
            changes: Changes::default(),
            base_reads: Some(RefCell::new(BaseReads::default())),
        }
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }

    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.changes.insert(key, None);
    }

    /// The writes made on this layer, to be absorbed by the layer below (or dropped).
    pub(crate) fn into_changes(self) -> Changes {
        self.changes
    }

    /// The writes of this layer without those that leave the base as it was (a key rewritten
    /// with its old value, or deleted while absent), using the remembered reads where it can.
    pub(crate) fn into_real_changes(
        self,
    ) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, StateError> {
        let reads = self.base_reads.map(RefCell::into_inner).unwrap_or_default();
        let mut out = Vec::with_capacity(self.changes.len());
        for (key, value) in self.changes {
            let unchanged = match reads.get(&key) {
                Some(old) => *old == value,
                None => self.base.get(&key)? == value,
            };
            if !unchanged {
                out.push((key, value));
            }
        }
        // Sorted in one go (keys are unique), then built in bulk.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().collect())
    }

    /// Takes over the writes of a layer that was stacked on this one.
    pub(crate) fn absorb(&mut self, mut changes: Changes) {
        // Insert the smaller map into the larger: the newer writes win either way.
        if changes.len() > self.changes.len() {
            std::mem::swap(&mut self.changes, &mut changes);
            for (key, value) in changes {
                self.changes.entry(key).or_insert(value);
            }
        } else {
            self.changes.extend(changes);
        }
    }
}

impl StateView for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(v) = self.changes.get(key) {
            return Ok(v.clone());
        }
        let Some(reads) = &self.base_reads else {
            return self.base.get(key);
        };
        if let Some(v) = reads.borrow().get(key) {
            return Ok(v.clone());
        }
        let v = self.base.get(key)?;
        reads.borrow_mut().insert(key.to_vec(), v.clone());
        Ok(v)
    }

    /// The base's range with this layer's writes and deletes merged in.
    fn range(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError> {
        let from = range_from(prefix, start);
        let mut mine: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self
            .changes
            .iter()
            .filter(|(k, _)| k.as_slice() >= from && k.starts_with(prefix))
            .collect();
        mine.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut mine = mine.into_iter().peekable();
        let mut out = Vec::new();
        let mut base: std::collections::VecDeque<Entry> = Default::default();
        let mut base_next = Some(from.to_vec());
        while out.len() < limit {
            if base.is_empty() {
                if let Some(cursor) = base_next.take() {
                    let page = self.base.range(prefix, Some(&cursor), limit)?;
                    if page.len() == limit {
                        base_next = page.last().map(|(k, _)| key_after(k));
                    }
                    base.extend(page);
                }
            }
            let order = match (base.front(), mine.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((bk, _)), Some((mk, _))) => bk.as_slice().cmp(mk.as_slice()),
            };
            if order == std::cmp::Ordering::Equal {
                // Overwritten or deleted here: this layer's value wins.
                base.pop_front();
            }
            let take_mine = order != std::cmp::Ordering::Less;
            if take_mine {
                if let Some((k, Some(v))) = mine.next() {
                    out.push((k.clone(), v.clone()));
                }
            } else if let Some(entry) = base.pop_front() {
                out.push(entry);
            }
        }
        Ok(out)
    }
}

/// Lowercase hex, for error messages (no dependency for one line of code).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Reads a big-endian `u128`; absent is 0, any length other than 16 is corrupt.
pub(crate) fn read_u128(view: &dyn StateView, key: &[u8]) -> Result<u128, StateError> {
    match view.get(key)? {
        None => Ok(0),
        Some(bytes) => decode_u128(key, &bytes),
    }
}

pub(crate) fn decode_u128(key: &[u8], bytes: &[u8]) -> Result<u128, StateError> {
    let raw: [u8; 16] = bytes.try_into().map_err(|_| {
        StateError::corrupt(key, format!("expected 16 bytes, found {}", bytes.len()))
    })?;
    Ok(u128::from_be_bytes(raw))
}

/// The addresses named by the keys `prefix ‖ address` (a registry of accounts: price reporters,
/// scorers), in address order, at most `limit`; a key of another length is corrupt.
pub(crate) fn addresses_under(
    view: &dyn StateView,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<want_types::Address>, StateError> {
    view.range(prefix, None, limit)?
        .into_iter()
        .map(|(k, _)| {
            k.get(prefix.len()..)
                .and_then(|b| <[u8; want_types::address::ADDRESS_LEN]>::try_from(b).ok())
                .map(want_types::Address)
                .ok_or_else(|| StateError::corrupt(&k, "registry key of the wrong length"))
        })
        .collect()
}

/// Reads and decodes one borsh value; a value that does not decode is corrupt (`what` names it
/// in the error).
pub(crate) fn read_borsh<T: BorshDeserialize>(
    view: &dyn StateView,
    key: &[u8],
    what: &str,
) -> Result<Option<T>, StateError> {
    view.get(key)?
        .map(|b| {
            borsh::from_slice(&b).map_err(|e| StateError::corrupt(key, format!("{what}: {e}")))
        })
        .transpose()
}

/// Encodes and writes one borsh value.
pub(crate) fn write_borsh<T: BorshSerialize>(ov: &mut Overlay<'_>, key: Vec<u8>, value: &T) {
    ov.put(
        key,
        borsh::to_vec(value).expect("invariant: borsh encoding into a Vec cannot fail"),
    );
}

/// Reads a big-endian `u64`; absent is 0, any length other than 8 is corrupt.
pub(crate) fn read_u64(view: &dyn StateView, key: &[u8]) -> Result<u64, StateError> {
    match view.get(key)? {
        None => Ok(0),
        Some(bytes) => {
            let raw: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                StateError::corrupt(key, format!("expected 8 bytes, found {}", bytes.len()))
            })?;
            Ok(u64::from_be_bytes(raw))
        }
    }
}

/// Writes a `u128` counter, deleting the key at zero so absent and zero are one state.
pub(crate) fn write_u128_or_delete(ov: &mut Overlay<'_>, key: Vec<u8>, value: u128) {
    if value == 0 {
        ov.delete(key);
    } else {
        ov.put(key, value.to_be_bytes().to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_state_applies_puts_and_deletes() {
        let mut ms = MemState::new();
        ms.0.insert(b"a".to_vec(), b"1".to_vec());
        ms.0.insert(b"b".to_vec(), b"2".to_vec());
        let mut ws = WriteSet::default();
        ws.0.insert(b"a".to_vec(), None);
        ws.0.insert(b"c".to_vec(), Some(b"3".to_vec()));
        ms.apply(&ws);
        assert_eq!(ms.get(b"a").unwrap(), None);
        assert_eq!(ms.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(ms.get(b"c").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn iter_prefix_yields_only_matching_keys_in_order() {
        let mut ms = MemState::new();
        for k in ["p/b", "p/a", "q/a", "p", "o/z"] {
            ms.0.insert(k.as_bytes().to_vec(), vec![1]);
        }
        let keys: Vec<&[u8]> = ms.iter_prefix(b"p/").map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, vec![b"p/a".as_slice(), b"p/b".as_slice()]);
    }

    #[test]
    fn overlay_reads_its_own_writes_and_deletes_over_the_base() {
        let mut base = BTreeMap::new();
        base.insert(b"k".to_vec(), b"old".to_vec());
        base.insert(b"gone".to_vec(), b"x".to_vec());
        let mut ov = Overlay::new(&base);
        ov.put(b"k".to_vec(), b"new".to_vec());
        ov.delete(b"gone".to_vec());
        assert_eq!(ov.get(b"k").unwrap(), Some(b"new".to_vec()));
        assert_eq!(ov.get(b"gone").unwrap(), None);
        // The base is untouched until the caller applies the changes.
        assert_eq!(base.get(b"k".as_slice()), Some(&b"old".to_vec()));
    }

    #[test]
    fn real_changes_leave_out_rewrites_of_the_base_value_whether_read_first_or_not() {
        let mut base = BTreeMap::new();
        base.insert(b"read-same".to_vec(), b"v".to_vec());
        base.insert(b"read-changed".to_vec(), b"v".to_vec());
        base.insert(b"blind-same".to_vec(), b"v".to_vec());
        base.insert(b"blind-changed".to_vec(), b"v".to_vec());
        let mut ov = Overlay::remembering_reads(&base);
        assert_eq!(ov.get(b"read-same").unwrap(), Some(b"v".to_vec()));
        assert_eq!(ov.get(b"read-changed").unwrap(), Some(b"v".to_vec()));
        assert_eq!(ov.get(b"absent-read").unwrap(), None);
        ov.put(b"read-same".to_vec(), b"v".to_vec());
        ov.put(b"read-changed".to_vec(), b"w".to_vec());
        ov.put(b"blind-same".to_vec(), b"v".to_vec());
        ov.put(b"blind-changed".to_vec(), b"w".to_vec());
        ov.delete(b"absent-read".to_vec());
        ov.delete(b"absent-blind".to_vec());
        ov.put(b"new".to_vec(), b"n".to_vec());
        // A read after a write sees the write, not the remembered base value.
        assert_eq!(ov.get(b"read-changed").unwrap(), Some(b"w".to_vec()));
        let real: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            ov.into_real_changes().unwrap().into_iter().collect();
        assert_eq!(
            real,
            vec![
                (b"blind-changed".to_vec(), Some(b"w".to_vec())),
                (b"new".to_vec(), Some(b"n".to_vec())),
                (b"read-changed".to_vec(), Some(b"w".to_vec())),
            ]
        );
    }

    /// One write of a generated transaction: key, then `None` to delete or `Some(value)`.
    type GenWrite = (u8, Option<u8>);

    proptest::proptest! {
        /// Stacked layers (block, per-transaction fee layer, call layer), with some calls
        /// dropped as failures, read like a plain map that applied the kept writes in order, and
        /// their real changes are exactly the keys whose value differs from the base — whatever
        /// the hash maps' order and whether a key was read before it was written.
        #[test]
        fn layered_writes_match_a_plain_map_and_real_changes_are_the_differences(
            base in proptest::collection::btree_map(0u8..12, 0u8..3, 0..12),
            txs in proptest::collection::vec(
                (
                    proptest::collection::vec((0u8..12, proptest::option::of(0u8..3)), 0..6),
                    proptest::collection::vec((0u8..12, proptest::option::of(0u8..3)), 0..6),
                    proptest::bool::ANY,
                    proptest::collection::vec(0u8..12, 0..4),
                ),
                0..12,
            ),
        ) {
            let key = |k: u8| vec![b'k', k];
            let val = |v: u8| vec![v];
            let base: BTreeMap<Vec<u8>, Vec<u8>> =
                base.into_iter().map(|(k, v)| (key(k), val(v))).collect();
            let mut model = base.clone();
            let apply = |ov: &mut Overlay<'_>, writes: &[GenWrite]| {
                for (k, v) in writes {
                    match v {
                        Some(v) => ov.put(key(*k), val(*v)),
                        None => ov.delete(key(*k)),
                    }
                }
            };
            let mut block = Overlay::remembering_reads(&base);
            for (fee_writes, call_writes, call_fails, reads) in &txs {
                for k in reads {
                    proptest::prop_assert_eq!(block.get(&key(*k)).unwrap(), model.get(&key(*k)).cloned());
                }
                let mut charged = Overlay::new(&block);
                apply(&mut charged, fee_writes);
                let mut call = Overlay::new(&charged);
                apply(&mut call, call_writes);
                for k in reads {
                    let mut expect = model.clone();
                    for (wk, wv) in fee_writes.iter().chain(call_writes) {
                        match wv {
                            Some(v) => expect.insert(key(*wk), val(*v)),
                            None => expect.remove(&key(*wk)),
                        };
                    }
                    proptest::prop_assert_eq!(call.get(&key(*k)).unwrap(), expect.get(&key(*k)).cloned());
                }
                let kept: Vec<GenWrite> = if *call_fails {
                    drop(call);
                    fee_writes.clone()
                } else {
                    let changes = call.into_changes();
                    charged.absorb(changes);
                    fee_writes.iter().chain(call_writes).copied().collect()
                };
                let changes = charged.into_changes();
                block.absorb(changes);
                for (k, v) in kept {
                    match v {
                        Some(v) => model.insert(key(k), val(v)),
                        None => model.remove(&key(k)),
                    };
                }
            }
            let real = block.into_real_changes().unwrap();
            let keys: std::collections::BTreeSet<&Vec<u8>> = base.keys().chain(model.keys()).collect();
            let expected: BTreeMap<Vec<u8>, Option<Vec<u8>>> = keys
                .into_iter()
                .filter(|k| base.get(*k) != model.get(*k))
                .map(|k| (k.clone(), model.get(k).cloned()))
                .collect();
            proptest::prop_assert_eq!(real, expected);
        }
    }

    proptest::proptest! {
        /// A layer's range reads, page by page, equal the range of the map it stands for
        /// (base with the layer's writes and deletes applied), whatever the page size.
        #[test]
        fn overlay_ranges_page_like_the_merged_map(
            base in proptest::collection::btree_map(0u8..40, 0u8..3, 0..30),
            writes in proptest::collection::vec((0u8..40, proptest::option::of(0u8..3)), 0..30),
            limit in 1usize..7,
            start in proptest::option::of(0u8..40),
        ) {
            let key = |k: u8| vec![b'p', k];
            let base: BTreeMap<Vec<u8>, Vec<u8>> =
                base.into_iter().map(|(k, v)| (key(k), vec![v])).collect();
            let mut outside = base.clone();
            outside.insert(b"o".to_vec(), vec![1]);
            outside.insert(b"q".to_vec(), vec![1]);
            let mut model = outside.clone();
            let mut ov = Overlay::new(&outside);
            for (k, v) in &writes {
                match v {
                    Some(v) => {
                        ov.put(key(*k), vec![*v]);
                        model.insert(key(*k), vec![*v]);
                    }
                    None => {
                        ov.delete(key(*k));
                        model.remove(&key(*k));
                    }
                }
            }
            let start = start.map(key);
            let expected = btree_range(&model, b"p", start.as_deref(), usize::MAX);
            let mut got = Vec::new();
            let mut cursor = start.clone();
            loop {
                let page = ov.range(b"p", cursor.as_deref(), limit).unwrap();
                proptest::prop_assert!(page.len() <= limit);
                let full = page.len() == limit;
                cursor = page.last().map(|(k, _)| key_after(k));
                got.extend(page);
                if !full {
                    break;
                }
            }
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn wrong_length_counter_is_reported_as_corrupt_with_its_key() {
        let mut base = BTreeMap::new();
        base.insert(b"n".to_vec(), vec![1, 2, 3]);
        let err = read_u128(&base, b"n").unwrap_err();
        assert_eq!(
            err,
            StateError::Corrupt {
                key_hex: "6e".into(),
                reason: "expected 16 bytes, found 3".into()
            }
        );
        assert!(matches!(
            read_u64(&base, b"n"),
            Err(StateError::Corrupt { .. })
        ));
        assert_eq!(read_u128(&base, b"absent").unwrap(), 0);
    }

    mod decoders {
        use super::*;
        use crate::fuzz_inputs::mutated_bytes;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_are_a_u128_or_corrupt_naming_key_and_length(
                key in prop::collection::vec(any::<u8>(), 0..8),
                bytes in prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..40),
                    mutated_bytes(any::<u128>().prop_map(|v| v.to_be_bytes().to_vec())),
                ],
            ) {
                let mut ms = MemState::new();
                ms.0.insert(key.clone(), bytes.clone());
                match decode_u128(&key, &bytes) {
                    Ok(v) => {
                        prop_assert_eq!(bytes.len(), 16);
                        prop_assert_eq!(&v.to_be_bytes()[..], &bytes[..]);
                        prop_assert_eq!(read_u128(&ms, &key).unwrap(), v);
                    }
                    Err(StateError::Corrupt { key_hex, reason }) => {
                        prop_assert_ne!(bytes.len(), 16);
                        prop_assert_eq!(key_hex, to_hex(&key));
                        prop_assert_eq!(reason, format!("expected 16 bytes, found {}", bytes.len()));
                        prop_assert!(read_u128(&ms, &key).is_err());
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
                match read_u64(&ms, &key) {
                    Ok(v) => prop_assert_eq!(v.to_be_bytes().to_vec(), bytes),
                    Err(StateError::Corrupt { key_hex, reason }) => {
                        prop_assert_eq!(key_hex, to_hex(&key));
                        prop_assert_eq!(reason, format!("expected 8 bytes, found {}", bytes.len()));
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }

            #[test]
            fn written_counters_read_back(v in any::<u128>(), w in any::<u64>()) {
                prop_assert_eq!(decode_u128(b"k", &v.to_be_bytes()).unwrap(), v);
                let mut ms = MemState::new();
                ms.0.insert(b"k".to_vec(), w.to_be_bytes().to_vec());
                prop_assert_eq!(read_u64(&ms, b"k").unwrap(), w);
            }
        }
    }
}

//! Test-only strategies for parser property tests: arbitrary text and valid forms mutated
//! (truncated, a character — often multibyte — inserted, replaced or removed anywhere).

use proptest::prelude::*;

/// Characters parsers of outside input must survive: ASCII, multibyte (2, 3 and 4 bytes),
/// separators, control characters and Unicode digits.
pub(crate) fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec![
            'é', 'ß', '€', '٣', '０', '𝟙', '🦀', '\u{0}', '\u{7f}', '\u{200b}', '\u{feff}', ' ',
            '\t', '\n', '.', ':', '/', '%', '?', '#', '-', '+', '*', '0', '9', 'x', 'T', 'Z',
        ]),
        1 => (0x20u8..0x7f).prop_map(char::from),
    ]
}

/// One mutation of a valid text.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Insert(prop::sample::Index, char),
    Replace(prop::sample::Index, char),
    Remove(prop::sample::Index),
    Truncate(prop::sample::Index),
    Repeat(prop::sample::Index, usize),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), nasty_char()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        (any::<prop::sample::Index>(), nasty_char()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

/// Applies `m` to `s` at a character position (never splitting a character).
pub(crate) fn apply(s: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::Insert(i, c) => {
            let p = at(i, chars.len() + 1);
            chars.insert(p, *c);
        }
        Mutation::Replace(i, c) if !chars.is_empty() => {
            let p = at(i, chars.len());
            chars[p] = *c;
        }
        Mutation::Remove(i) if !chars.is_empty() => {
            let p = at(i, chars.len());
            chars.remove(p);
        }
        Mutation::Truncate(i) => {
            let p = at(i, chars.len() + 1);
            chars.truncate(p);
        }
        Mutation::Repeat(i, n) if !chars.is_empty() => {
            let p = at(i, chars.len());
            let c = chars[p];
            for _ in 0..*n {
                chars.insert(p, c);
            }
        }
        _ => {}
    }
    chars.into_iter().collect()
}

/// Applies up to three mutations.
pub(crate) fn mutated(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (valid, prop::collection::vec(mutation(), 1..4))
        .prop_map(|(s, ms)| ms.iter().fold(s, |s, m| apply(&s, m)))
}

/// Byte-level mutations of valid encodings: truncation, a byte flipped, bytes inserted.
pub(crate) fn mutated_bytes(
    valid: impl Strategy<Value = Vec<u8>>,
) -> impl Strategy<Value = Vec<u8>> {
    (
        valid,
        0u8..3,
        any::<prop::sample::Index>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(mut b, op, i, x, extra)| {
            match op {
                0 => {
                    let p = i.index(b.len() + 1);
                    b.truncate(p);
                }
                1 if !b.is_empty() => {
                    let p = i.index(b.len());
                    b[p] ^= x.max(1);
                }
                _ => {
                    let p = i.index(b.len() + 1);
                    b.splice(p..p, extra);
                }
            }
            b
        })
}

/// What a lenient hex parser reads from `s`: trimmed, without a `0x`/`0X` prefix, lower case.
pub(crate) fn lenient_hex(s: &str) -> String {
    let t = s.trim();
    t.strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t)
        .to_lowercase()
}

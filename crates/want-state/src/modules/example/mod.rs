//! The example module (feature `example-module`, for the test suite): a guest book in which an
//! account posts one short note that expires after the chain's configured time. It shows every
//! part of the module contract — a call with its checks, state under its prefix, events, error
//! codes, a genesis section, a weight, work on the kernel's schedule, and queries — and nothing
//! more (see `docs/MODULES.md`).
//!
//! State: `example/ttl` → note lifetime in ms (u64 BE, from the genesis section);
//! `example/note/ ‖ author` → [`Note`].

pub mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use want_types::modules::example::{ExampleCall, ExampleEvent, NOTE_BYTES_MAX};
use want_types::{Address, ModuleId};

use crate::codes::ErrorCode;
use crate::failure::{fail, ExecError};
use crate::kernel::module::{CallCtx, GenesisCtx, HookCtx, Module};
use crate::kernel::schedule::ScheduleId;
use crate::store::read_u64;
use crate::{StateError, StateView};

/// Failed: the note is longer than `NOTE_BYTES_MAX` bytes.
pub const NOTE_TOO_LONG: &str = "note_too_long";
/// Failed: the sender has no note to delete.
pub const NO_NOTE: &str = "no_note";

const CODES: &[ErrorCode] = &[
    ErrorCode::new(NOTE_TOO_LONG, 400, "the note is longer than 140 bytes"),
    ErrorCode::new(NO_NOTE, 400, "the sender has no note"),
];

/// Key of the note lifetime.
pub const TTL_KEY: &[u8] = b"example/ttl";
/// Prefix of the notes.
pub const NOTE_PREFIX: &[u8] = b"example/note/";
/// Note lifetime when the genesis section does not say: one hour.
pub const TTL_MS_DEFAULT: u64 = 3_600_000;
/// Weight of a call beyond the kernel's per-transaction weight.
pub const CALL_WEIGHT: u64 = 5_000;

/// A stored note.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Note {
    pub text: String,
    pub posted_ms: u64,
    /// Its expiry on the kernel's schedule.
    #[serde(skip)]
    pub expiry: ScheduleId,
    pub expires_ms: u64,
}

/// The `"example"` section of a genesis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleGenesis {
    /// How long a note lives, in ms.
    pub ttl_ms: Option<u64>,
}

pub fn note_key(author: &Address) -> Vec<u8> {
    [NOTE_PREFIX, &author.0].concat()
}

/// The note of `author`, if any.
pub fn note(view: &dyn StateView, author: &Address) -> Result<Option<Note>, StateError> {
    let key = note_key(author);
    view.get(&key)?
        .map(|b| borsh::from_slice(&b).map_err(|e| StateError::corrupt(&key, format!("note: {e}"))))
        .transpose()
}

/// The example module.
pub struct Example;

impl Module for Example {
    const ID: ModuleId = ModuleId::Example;
    type Call = ExampleCall;

    fn codes() -> &'static [ErrorCode] {
        CODES
    }

    fn execute(ctx: &mut CallCtx<'_, '_>, call: &ExampleCall) -> Result<(), ExecError> {
        let author = ctx.sender;
        let old = note(ctx.view(), &author)?;
        match call {
            ExampleCall::Post { text } => {
                if text.len() > NOTE_BYTES_MAX {
                    return Err(fail(
                        NOTE_TOO_LONG,
                        format!(
                            "tx.call.text is {} bytes; a note holds at most {NOTE_BYTES_MAX}",
                            text.len()
                        ),
                    ));
                }
                if let Some(old) = old {
                    ctx.cancel(old.expiry);
                }
                let ttl = match read_u64(ctx.view(), TTL_KEY)? {
                    0 => TTL_MS_DEFAULT,
                    t => t,
                };
                let now = ctx.block.timestamp_ms;
                let expires_ms = now.saturating_add(ttl);
                let expiry = ctx.schedule(Self::ID, expires_ms, author.0.to_vec())?;
                let stored = Note {
                    text: text.clone(),
                    posted_ms: now,
                    expiry,
                    expires_ms,
                };
                ctx.state.put(
                    note_key(&author),
                    borsh::to_vec(&stored).expect("invariant: borsh encoding into a Vec cannot fail"),
                );
                ctx.emit(ExampleEvent::NotePosted {
                    author,
                    bytes: text.len() as u32,
                });
            }
            ExampleCall::Delete => {
                let Some(old) = old else {
                    return Err(fail(NO_NOTE, format!("{author} has no note to delete")));
                };
                ctx.cancel(old.expiry);
                ctx.state.delete(note_key(&author));
                ctx.emit(ExampleEvent::NoteDeleted { author });
            }
        }
        Ok(())
    }

    fn weight(_call: &ExampleCall) -> u64 {
        CALL_WEIGHT
    }

    fn genesis(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
        let Some(section) = ctx.section else {
            return Ok(());
        };
        let g: ExampleGenesis =
            serde_json::from_value(section.clone()).map_err(|e| StateError::Genesis {
                section: "example".into(),
                reason: e.to_string(),
            })?;
        if let Some(ttl) = g.ttl_ms {
            ctx.state.put(TTL_KEY.to_vec(), ttl.to_be_bytes().to_vec());
        }
        Ok(())
    }

    /// The payload is the author's address: its note expires.
    fn on_due(ctx: &mut HookCtx<'_, '_>, payload: &[u8]) -> Result<(), ExecError> {
        let raw = <[u8; want_types::address::ADDRESS_LEN]>::try_from(payload)
            .map_err(|_| StateError::corrupt(payload, "example expiry without an address"))?;
        let author = Address(raw);
        if let Some(n) = note(&*ctx.state, &author)? {
            if n.expires_ms <= ctx.block.timestamp_ms {
                ctx.state.delete(note_key(&author));
                ctx.emit(ExampleEvent::NoteExpired { author });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use want_types::{Call, Event};

    fn post(text: &str) -> Call {
        Call::Example(ExampleCall::Post { text: text.into() })
    }

    #[test]
    fn a_note_is_posted_replaced_and_expires_on_the_schedule() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let r = run1(&mut ms, a, tx_call(0, post("hello")));
        assert!(r.is_success(), "{r:?}");
        assert_eq!(note(&ms, &a).unwrap().unwrap().text, "hello");
        let r = run1(&mut ms, a, tx_call(1, post(&"x".repeat(NOTE_BYTES_MAX + 1))));
        assert_eq!(code(&r), ("failed", NOTE_TOO_LONG));
        // Before the hour is up the note stays; at the hour the end-of-block hook removes it.
        let out = run_at(&mut ms, 2, NOW_MS + TTL_MS_DEFAULT - 1, vec![]);
        assert!(out.hook_events.is_empty());
        assert!(note(&ms, &a).unwrap().is_some());
        let out = run_at(&mut ms, 3, NOW_MS + TTL_MS_DEFAULT, vec![]);
        assert_eq!(
            out.hook_events,
            vec![Event::Example(ExampleEvent::NoteExpired { author: a })]
        );
        assert!(note(&ms, &a).unwrap().is_none());
        assert!(crate::kernel::schedule::pending(&ms, 10).unwrap().is_empty());
    }
}

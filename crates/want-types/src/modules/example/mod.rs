//! The example module's types (compiled with the feature `example-module`, for the test suite):
//! a guest book where an account posts one short note, which expires after the chain's
//! configured time. It exists to show, and to test, every part of a module and the
//! registrations of `docs/MODULES.md` — nothing more.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::modules::ModuleCall;
use crate::Address;

/// Longest note, in bytes.
pub const NOTE_BYTES_MAX: usize = 140;

/// Calls of the example module. Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExampleCall {
    /// Posts (or replaces) the sender's note.
    Post { text: String },
    /// Deletes the sender's note.
    Delete,
}

impl ModuleCall for ExampleCall {
    const TX_BYTES_MAX: usize = crate::TX_BYTES_MAX;
}

/// Events of the example module. Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExampleEvent {
    NotePosted { author: Address, bytes: u32 },
    NoteDeleted { author: Address },
    /// The end-of-block hook removed a note whose time was up.
    NoteExpired { author: Address },
}

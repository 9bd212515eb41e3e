//! The members' network: signed envelopes, the replay guard, fault injection and the HTTP
//! transport that carries them.

pub mod envelope;
pub mod faults;
pub mod ratelog;
pub mod replay;
pub mod transport;

pub use envelope::{
    Envelope, EnvelopeHeader, MsgKind, Refusal, SealedHeader, ENVELOPE_BYTES_MAX, ENVELOPE_HEADER,
    SEALED_HEADER_BYTES,
};
pub use faults::{FaultInjector, FaultPlan};
pub use ratelog::{RateLimitedLog, LOG_EVERY_MS};
pub use replay::{ReplayGuard, REPLAY_WINDOW_MS};
pub use transport::{
    unix_ms, CheckedHeader, NetError, Peer, Transport, UnixClock, Wire, WireFuture, RPC_PATH,
};

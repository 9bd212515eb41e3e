//! The members' network: signed envelopes, the replay guard, fault injection, the HTTP
//! transport that carries them and the TLS that encrypts it between `https://` members.

pub mod envelope;
pub mod faults;
pub mod ratelog;
pub mod replay;
pub mod tls;
pub mod transport;

pub use envelope::{
    Envelope, EnvelopeHeader, MsgKind, Refusal, SealedHeader, ENVELOPE_BYTES_MAX, ENVELOPE_HEADER,
    SEALED_HEADER_BYTES,
};
pub use faults::{FaultInjector, FaultPlan};
pub use ratelog::{RateLimitedLog, LOG_EVERY_MS};
pub use replay::{ReplayGuard, REPLAY_WINDOW_MS};
pub use tls::{is_tls_url, MemberTls, TrustedKeys};
pub use transport::{
    unix_ms, CheckedHeader, MemberTable, NetError, Peer, Transport, UnixClock, Wire, WireFuture,
    RPC_PATH,
};

//! The replay guard: a receiver accepts each (sender, boot, sequence) once, and only while the
//! message is younger than the replay window. Older messages are refused outright, so the set of
//! remembered messages stays bounded by what a sender can send within one window.
//!
//! The guard lives in memory, so a restarted receiver has forgotten what it accepted: it
//! refuses every message sent before it started (`sent_before_start`), or a message captured
//! on the wire could be accepted a second time after a restart. A sender whose clock runs
//! behind the receiver's by d ms is refused for the first d ms after the receiver starts and
//! retries (Raft resends); conversely, a copy of a message from a sender whose clock runs ahead
//! by d ms, taken within the last d ms before the receiver restarted, can be taken once more
//! after the restart (a duplicate, which Raft tolerates as it tolerates the network's; over
//! TLS only the receiver itself could have kept the copy).

use std::collections::{HashMap, HashSet, VecDeque};

use parking_lot::Mutex;

use super::envelope::{EnvelopeHeader, Refusal};

/// How old (or how far in the future) a message may be, in milliseconds. Members' clocks must
/// agree within this (run NTP).
pub const REPLAY_WINDOW_MS: u64 = 30_000;
/// Most messages remembered per sender within one window.
pub const REPLAY_ENTRIES_PER_SENDER_MAX: usize = 1_000_000;

#[derive(Default)]
struct SenderWindow {
    seen: HashSet<(u64, u64)>,
    /// (sent_at_ms, (boot, seq)) in arrival order, for pruning.
    order: VecDeque<(u64, (u64, u64))>,
}

/// Remembers recently received messages per sender (see the module documentation).
#[derive(Default)]
pub struct ReplayGuard {
    senders: Mutex<HashMap<u64, SenderWindow>>,
    /// Messages sent before this Unix time (ms) are refused: the guard was not there to see them.
    started_ms: u64,
}

impl ReplayGuard {
    /// A guard that takes messages sent at any time within the window (tests).
    pub fn new() -> ReplayGuard {
        ReplayGuard::default()
    }

    /// A guard started at `started_ms` (Unix ms): messages sent earlier are refused.
    pub fn starting_at(started_ms: u64) -> ReplayGuard {
        ReplayGuard {
            senders: Mutex::new(HashMap::new()),
            started_ms,
        }
    }

    /// Whether the message would be accepted at `now_ms` (within the window, not seen yet),
    /// without remembering it: a receiver asks this before it reads the payload, and records
    /// the message with [`ReplayGuard::check`] only once the payload matched its signed hash, so
    /// an altered copy cannot use up a genuine message's sequence number.
    pub fn precheck(&self, h: &EnvelopeHeader, now_ms: u64) -> Result<(), Refusal> {
        self.fresh(h, now_ms)?;
        let senders = self.senders.lock();
        if senders
            .get(&h.from)
            .is_some_and(|w| w.seen.contains(&(h.boot, h.seq)))
        {
            return Err(Refusal::Replayed {
                from: h.from,
                boot: h.boot,
                seq: h.seq,
            });
        }
        Ok(())
    }

    fn fresh(&self, h: &EnvelopeHeader, now_ms: u64) -> Result<(), Refusal> {
        if h.sent_at_ms.saturating_add(REPLAY_WINDOW_MS) < now_ms {
            return Err(Refusal::Stale {
                age_ms: now_ms - h.sent_at_ms,
                window_ms: REPLAY_WINDOW_MS,
            });
        }
        if h.sent_at_ms > now_ms.saturating_add(REPLAY_WINDOW_MS) {
            return Err(Refusal::FromFuture {
                ahead_ms: h.sent_at_ms - now_ms,
            });
        }
        // Within the window but before this guard existed (checked after the window, so a
        // message older than the window is called what it is: stale).
        if h.sent_at_ms < self.started_ms {
            return Err(Refusal::SentBeforeStart {
                sent_at_ms: h.sent_at_ms,
                started_ms: self.started_ms,
            });
        }
        Ok(())
    }

    /// Accepts the message once if it is within the window at `now_ms`.
    pub fn check(&self, h: &EnvelopeHeader, now_ms: u64) -> Result<(), Refusal> {
        self.fresh(h, now_ms)?;
        let mut senders = self.senders.lock();
        let w = senders.entry(h.from).or_default();
        // Forget what the window no longer covers (arrival order is close to send order; an
        // entry kept a little longer only costs memory).
        let horizon = now_ms.saturating_sub(2 * REPLAY_WINDOW_MS);
        while let Some(&(at, id)) = w.order.front() {
            if at >= horizon {
                break;
            }
            w.order.pop_front();
            w.seen.remove(&id);
        }
        let id = (h.boot, h.seq);
        if w.seen.contains(&id) {
            return Err(Refusal::Replayed {
                from: h.from,
                boot: h.boot,
                seq: h.seq,
            });
        }
        if w.seen.len() >= REPLAY_ENTRIES_PER_SENDER_MAX {
            return Err(Refusal::WindowFull(h.from));
        }
        w.seen.insert(id);
        w.order.push_back((h.sent_at_ms, id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::envelope::MsgKind;

    fn h(from: u64, boot: u64, seq: u64, sent_at_ms: u64) -> EnvelopeHeader {
        EnvelopeHeader {
            chain_id: 1,
            from,
            to: 9,
            kind: MsgKind::AppendEntries,
            boot,
            seq,
            sent_at_ms,
            in_reply_to: [0; 32],
            payload_hash: [0; 32],
        }
    }

    #[test]
    fn a_message_is_accepted_once() {
        let g = ReplayGuard::new();
        let now = 1_000_000;
        g.check(&h(1, 5, 1, now), now).unwrap();
        assert!(matches!(
            g.check(&h(1, 5, 1, now), now + 10),
            Err(Refusal::Replayed { .. })
        ));
        // Same sequence from another boot or another sender is a different message.
        g.check(&h(1, 6, 1, now), now).unwrap();
        g.check(&h(2, 5, 1, now), now).unwrap();
    }

    #[test]
    fn a_precheck_remembers_nothing() {
        let g = ReplayGuard::new();
        let now = 1_000_000;
        g.precheck(&h(1, 5, 1, now), now).unwrap();
        g.precheck(&h(1, 5, 1, now), now).unwrap();
        g.check(&h(1, 5, 1, now), now).unwrap();
        assert!(matches!(
            g.precheck(&h(1, 5, 1, now), now),
            Err(Refusal::Replayed { .. })
        ));
        assert!(matches!(
            g.precheck(&h(1, 5, 2, now - REPLAY_WINDOW_MS - 1), now),
            Err(Refusal::Stale { .. })
        ));
    }

    #[test]
    fn messages_outside_the_window_are_refused() {
        let g = ReplayGuard::new();
        let now = 10_000_000;
        assert!(matches!(
            g.check(&h(1, 1, 1, now - REPLAY_WINDOW_MS - 1), now),
            Err(Refusal::Stale { .. })
        ));
        assert!(matches!(
            g.check(&h(1, 1, 2, now + REPLAY_WINDOW_MS + 1), now),
            Err(Refusal::FromFuture { .. })
        ));
        g.check(&h(1, 1, 3, now - REPLAY_WINDOW_MS), now).unwrap();
    }

    #[test]
    fn old_entries_are_forgotten_but_their_messages_stay_refused_as_stale() {
        let g = ReplayGuard::new();
        let t0 = 10_000_000;
        g.check(&h(1, 1, 1, t0), t0).unwrap();
        let later = t0 + 3 * REPLAY_WINDOW_MS;
        g.check(&h(1, 1, 2, later), later).unwrap();
        assert_eq!(g.senders.lock()[&1].seen.len(), 1);
        assert!(matches!(
            g.check(&h(1, 1, 1, t0), later),
            Err(Refusal::Stale { .. })
        ));
    }

    #[test]
    fn a_restarted_receiver_refuses_what_was_sent_before_it_started() {
        let now = 1_000_000_000u64;
        let before = ReplayGuard::new();
        let captured = h(1, 5, 1, now - 1_000);
        before.check(&captured, now - 900).unwrap();
        // The receiver restarts: its memory is gone, the captured copy is still fresh.
        let restarted = ReplayGuard::starting_at(now);
        let e = restarted.precheck(&captured, now + 10).unwrap_err();
        assert_eq!(e.code(), "sent_before_start");
        assert_eq!(
            restarted.check(&captured, now + 10).unwrap_err().code(),
            "sent_before_start"
        );
        // A message older than the window is still called stale.
        let old = h(1, 5, 3, now - REPLAY_WINDOW_MS - 1);
        assert_eq!(restarted.check(&old, now + 10).unwrap_err().code(), "stale");
        // What the sender sends from then on is taken.
        restarted.check(&h(1, 5, 2, now + 5), now + 10).unwrap();
    }
}

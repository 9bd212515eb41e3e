//! The simulation's in-memory network: delivers sealed requests to the target node's real
//! checks (`check_rpc_header`, then `handle_rpc`) and its sealed answer back, with the seed's
//! faults: drops, duplicates, delays (and so reorders), partitions, crashed nodes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{DefaultHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::Rng;

use super::applier::SimApplier;
use crate::net::{NetError, Wire, WireFuture};
use crate::{Inbound, RaftConsensus};

/// Requests kept for a Byzantine member to replay (the latest its receivers accepted).
pub const CAPTURED_MAX: usize = 64;
/// Every hop takes at least this long (simulated ms): a network is never instantaneous, and a
/// sender that retries at once must still let simulated time advance.
pub const HOP_MS_MIN: u64 = 1;
/// HTTP status a node answers a refused envelope with (as the node's API does).
const REFUSED_STATUS: u16 = 401;

/// The faults applied to every message (parts per thousand, milliseconds).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    pub drop_per_mille: u32,
    pub duplicate_per_mille: u32,
    /// Every message waits 0..=delay_ms_max ms (so messages overtake each other).
    pub delay_ms_max: u64,
}

/// A captured request: target, sealed header field, body.
#[derive(Clone)]
pub struct Captured {
    pub to: u64,
    pub field: String,
    pub body: Vec<u8>,
    /// How many times the receiver had started when it took the message.
    pub receiver_starts: u64,
}

/// Everything the network knows; shared by all nodes' wires.
pub struct NetState {
    pub rng: StdRng,
    pub nodes: BTreeMap<u64, Arc<RaftConsensus<SimApplier>>>,
    /// (from, to) pairs that cannot talk.
    pub blocked: BTreeSet<(u64, u64)>,
    pub rates: Rates,
    pub captured: VecDeque<Captured>,
    /// How many times each node started (a restart's replay guard has forgotten what it took).
    pub starts: BTreeMap<u64, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Envelopes refused by a receiver's checks, by refusal code.
    pub refusals: BTreeMap<&'static str, u64>,
    /// Hash of the event trace (what was delivered, dropped, refused, and when).
    pub trace: DefaultHasher,
    pub events: u64,
    pub start: tokio::time::Instant,
}

impl NetState {
    pub fn new(rng: StdRng) -> NetState {
        NetState {
            rng,
            nodes: BTreeMap::new(),
            blocked: BTreeSet::new(),
            rates: Rates::default(),
            captured: VecDeque::new(),
            starts: BTreeMap::new(),
            faults: BTreeMap::new(),
            refusals: BTreeMap::new(),
            trace: DefaultHasher::new(),
            events: 0,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    /// Adds an event to the trace, stamped with the simulated time.
    pub fn event(&mut self, what: impl Hash) {
        (self.start.elapsed().as_millis() as u64).hash(&mut self.trace);
        what.hash(&mut self.trace);
        self.events += 1;
    }
}

/// The shared network.
#[derive(Clone)]
pub struct SimNet {
    pub state: Arc<Mutex<NetState>>,
}

/// What the network decided for one message.
struct Fate {
    drop: bool,
    duplicate: bool,
    delay_ms: u64,
}

impl SimNet {
    fn fate(&self, from: u64, to: u64) -> Fate {
        let mut s = self.state.lock();
        let r = s.rates;
        let drop = r.drop_per_mille > 0 && s.rng.gen_range(0..1_000) < r.drop_per_mille;
        let duplicate =
            r.duplicate_per_mille > 0 && s.rng.gen_range(0..1_000) < r.duplicate_per_mille;
        let delay_ms = if r.delay_ms_max > 0 {
            s.rng.gen_range(0..=r.delay_ms_max)
        } else {
            0
        };
        if drop {
            s.fault("drop");
        }
        if duplicate {
            s.fault("duplicate");
        }
        if delay_ms > 0 {
            s.fault("delay");
        }
        s.event(("fate", from, to, drop, duplicate, delay_ms));
        Fate {
            drop,
            duplicate,
            delay_ms,
        }
    }

    /// The target if it is up and reachable from `from`.
    fn reach(&self, from: u64, to: u64) -> Result<Arc<RaftConsensus<SimApplier>>, NetError> {
        let mut s = self.state.lock();
        let unreachable = |reason: &str| NetError::Unreachable {
            to,
            reason: reason.into(),
        };
        if s.blocked.contains(&(from, to)) {
            s.fault("partitioned");
            s.event(("partitioned", from, to));
            return Err(unreachable("partitioned"));
        }
        match s.nodes.get(&to) {
            Some(n) => Ok(n.clone()),
            None => {
                s.event(("down", from, to));
                Err(unreachable("the node is down"))
            }
        }
    }

    /// Hands one request to the target's checks and returns its sealed answer.
    pub async fn handle(
        &self,
        from: u64,
        to: u64,
        field: String,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        let node = self.reach(from, to)?;
        let refused = |net: &SimNet, code: &'static str| {
            let mut s = net.state.lock();
            *s.refusals.entry(code).or_default() += 1;
            s.event(("refused", from, to, code));
            NetError::Refused {
                to,
                status: REFUSED_STATUS,
                body: code.into(),
            }
        };
        let checked = match node.check_rpc_header(Some(field.as_bytes())) {
            Ok(c) => c,
            Err(r) => return Err(refused(self, r.code())),
        };
        match node.handle_rpc(checked, body).await {
            Ok(Inbound::Answer(answer)) => {
                self.state
                    .lock()
                    .event(("answered", from, to, answer.len()));
                Ok(answer)
            }
            Ok(Inbound::App(_)) => Err(refused(self, "app_message")),
            Err(r) => {
                if std::env::var_os("WANT_SIM_VERBOSE").is_some() {
                    let ms = self.state.lock().start.elapsed().as_millis();
                    println!("{ms:>6} ms: node {to} refused a message from {from}: {r}");
                }
                Err(refused(self, r.code()))
            }
        }
    }

    /// One trip: request there (after its delay), answer back.
    async fn trip(
        self,
        from: u64,
        to: u64,
        field: String,
        body: Vec<u8>,
        fate: Fate,
    ) -> Result<Vec<u8>, NetError> {
        tokio::time::sleep(Duration::from_millis(HOP_MS_MIN + fate.delay_ms)).await;
        if fate.drop {
            self.state.lock().event(("dropped", from, to));
            return Err(NetError::Unreachable {
                to,
                reason: "dropped".into(),
            });
        }
        let copy = Captured {
            to,
            field: field.clone(),
            body: body.clone(),
            receiver_starts: 0,
        };
        let answer = self.handle(from, to, field, body).await?;
        // Kept for a replay only once its receiver took it: replaying a message the network
        // dropped would be its first delivery, not a replay.
        {
            let mut s = self.state.lock();
            if s.captured.len() == CAPTURED_MAX {
                s.captured.pop_front();
            }
            let receiver_starts = s.starts.get(&to).copied().unwrap_or_default();
            s.captured.push_back(Captured {
                receiver_starts,
                ..copy
            });
        }
        // The answer crosses the same network back.
        tokio::time::sleep(Duration::from_millis(HOP_MS_MIN)).await;
        self.reach(to, from)?;
        Ok(answer)
    }
}

impl Wire for SimNet {
    fn deliver(
        &self,
        from: u64,
        to: u64,
        _url: &str,
        field: String,
        body: Vec<u8>,
        timeout: Duration,
    ) -> WireFuture {
        let fate = self.fate(from, to);
        if fate.duplicate {
            let again = Fate {
                drop: false,
                duplicate: false,
                delay_ms: fate.delay_ms + 1,
            };
            let net = self.clone();
            let (f, b) = (field.clone(), body.clone());
            tokio::spawn(async move {
                let _ = net.trip(from, to, f, b, again).await;
            });
        }
        let net = self.clone();
        Box::pin(async move {
            match tokio::time::timeout(timeout, net.trip(from, to, field, body, fate)).await {
                Ok(r) => r,
                Err(_) => Err(NetError::TimedOut {
                    to,
                    after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                }),
            }
        })
    }
}

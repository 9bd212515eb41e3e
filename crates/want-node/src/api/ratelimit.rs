//! Per-client limits: a request-rate token bucket per client (`tower_governor`), keyed by the
//! connection's peer address — an IPv4 address, or the /64 network of an IPv6 one (one host
//! holds a whole /64) — answering `429 rate_limited` with `Retry-After`, and counts of what a
//! client holds open at once (connections, event streams; [`PerClient`]). Clients on loopback
//! are not limited unless `http.rate_limit_loopback` says so.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use crate::config::HttpLimits;
use crate::error::codes;
use prometheus_client::metrics::counter::Counter;

/// How often the buckets of clients quiet for longer than their refill are forgotten, in
/// milliseconds (so the table holds only recent clients).
pub const FORGET_QUIET_CLIENTS_EVERY_MS: u64 = 60_000;

/// Whom a request's rate is counted against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    /// The /64 network: one host is routinely given a whole /64.
    V6Net([u8; 8]),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut net = [0u8; 8];
                net.copy_from_slice(&v6.octets()[..8]);
                ClientKey::V6Net(net)
            }
        }
    }
}

/// The request extension the server sets on every request of a connection: its client.
#[derive(Clone, Copy, Debug)]
pub struct Client(pub ClientKey);

/// The request extension the server sets on every request of a connection: the peer's address.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub IpAddr);

/// Reads the [`Client`] extension set by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientKeyExtractor;

impl KeyExtractor for ClientKeyExtractor {
    type Key = ClientKey;

    fn extract<T>(&self, req: &Request<T>) -> Result<ClientKey, GovernorError> {
        req.extensions()
            .get::<Client>()
            .map(|c| c.0)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// Whether requests from `ip` go unlimited under `limits`.
pub fn exempt(ip: IpAddr, limits: &HttpLimits) -> bool {
    limits.client_requests_per_second == 0
        || (!limits.rate_limit_loopback && ip.to_canonical().is_loopback())
}

/// Whether what `ip` holds open (connections, streams) goes uncounted under `limits`: loopback
/// clients (the operator's tools, a local reverse proxy) unless `http.rate_limit_loopback`.
pub fn exempt_from_holding_caps(ip: IpAddr, limits: &HttpLimits) -> bool {
    !limits.rate_limit_loopback && ip.to_canonical().is_loopback()
}

/// How many of something (open connections, open event streams) each client holds, each up to
/// `max` (0: no per-client cap). The table holds only clients that hold at least one, so it is
/// bounded by the listener's own global cap.
#[derive(Debug)]
pub struct PerClient {
    max: usize,
    held: parking_lot::Mutex<HashMap<ClientKey, usize>>,
}

/// One thing a client holds; dropping it gives it back.
#[derive(Debug)]
pub struct Held {
    table: Arc<PerClient>,
    key: ClientKey,
}

impl PerClient {
    pub fn new(max: usize) -> Arc<PerClient> {
        Arc::new(PerClient {
            max,
            held: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more for `key`, or `None` when it already holds `max`.
    pub fn try_hold(self: &Arc<Self>, key: ClientKey) -> Option<Held> {
        let mut held = self.held.lock();
        let n = held.entry(key).or_insert(0);
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n = n.saturating_add(1);
        Some(Held {
            table: self.clone(),
            key,
        })
    }

    /// What `key` holds now.
    #[cfg(test)]
    pub fn held_by(&self, key: ClientKey) -> usize {
        self.held.lock().get(&key).copied().unwrap_or(0)
    }

    /// Clients holding anything.
    #[cfg(test)]
    pub fn clients(&self) -> usize {
        self.held.lock().len()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.table.held.lock();
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// `app` behind the per-client rate limit of `limits` (`app` itself when the limit is off).
/// Refusals are counted in `want_http_rate_limited_total`. Spawns a task (ending with the
/// limited router) that forgets quiet clients, so must run inside a Tokio runtime.
pub fn limited(app: axum::Router, limits: &HttpLimits, refused: Counter) -> axum::Router {
    if limits.client_requests_per_second == 0 {
        return app;
    }
    let per_request =
        Duration::from_nanos(1_000_000_000 / u64::from(limits.client_requests_per_second).max(1))
            .max(Duration::from_nanos(1));
    let config = GovernorConfigBuilder::default()
        .key_extractor(ClientKeyExtractor)
        .period(per_request)
        .burst_size(limits.client_burst.max(1))
        .finish()
        .expect("invariant: the period and the burst are non-zero");
    let config = Arc::new(config);
    let limiter = Arc::downgrade(config.limiter());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(FORGET_QUIET_CLIENTS_EVERY_MS));
        every.tick().await;
        loop {
            every.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                break;
            };
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    });
    let (rps, burst) = (limits.client_requests_per_second, limits.client_burst);
    app.layer(GovernorLayer::new(config).error_handler(move |e| refusal(e, rps, burst, &refused)))
}

/// The answer to a refused request: `429 rate_limited` with the governor's `Retry-After`.
fn refusal(e: GovernorError, rps: u32, burst: u32, refused: &Counter) -> Response {
    let (wait_s, headers) = match e {
        GovernorError::TooManyRequests { wait_time, headers } => (wait_time, headers),
        GovernorError::UnableToExtractKey | GovernorError::Other { .. } => (1, None),
    };
    refused.inc();
    let mut answer = super::bad(
        codes::RATE_LIMITED,
        format!(
            "this client sent more than {burst} requests at once or {rps} per second on average (http.client_burst, http.client_requests_per_second); wait {wait_s} s and send again"
        ),
    )
    .into_response();
    if let Some(headers) = headers {
        answer.headers_mut().extend(headers);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn hosts_of_one_ipv6_network_count_as_one_client() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_its_ipv4_client() {
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(
            ClientKey::of(mapped),
            ClientKey::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
        );
    }

    #[test]
    fn loopback_is_exempt_unless_configured_and_zero_turns_the_limit_off() {
        let mut limits = HttpLimits::default();
        let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let lo4_mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let far = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        assert!(exempt(lo, &limits) && exempt(lo4_mapped, &limits));
        assert!(!exempt(far, &limits));
        limits.rate_limit_loopback = true;
        assert!(!exempt(lo, &limits) && !exempt(lo4_mapped, &limits));
        limits.client_requests_per_second = 0;
        assert!(exempt(far, &limits));
    }

    #[test]
    fn a_client_holds_at_most_its_cap_and_gets_slots_back_when_it_lets_go() {
        let table = PerClient::new(2);
        let a = ClientKey::of(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)));
        let b = ClientKey::of(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)));
        let first = table.try_hold(a).expect("a holds nothing yet");
        let _second = table.try_hold(a).expect("a holds one of two");
        assert!(table.try_hold(a).is_none(), "a third is over the cap");
        let _other = table.try_hold(b).expect("b is counted apart from a");
        assert_eq!((table.held_by(a), table.held_by(b)), (2, 1));
        drop(first);
        assert_eq!(table.held_by(a), 1);
        assert!(table.try_hold(a).is_some());
    }

    #[test]
    fn clients_that_let_go_of_everything_leave_the_table_and_zero_means_uncapped() {
        let table = PerClient::new(1);
        let a = ClientKey::of(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)));
        let held = table.try_hold(a).expect("a holds nothing yet");
        assert!(table.try_hold(a).is_none());
        drop(held);
        assert_eq!(table.clients(), 0);
        let uncapped = PerClient::new(0);
        let all: Vec<_> = (0..1_000)
            .map(|_| uncapped.try_hold(a).expect("no cap"))
            .collect();
        assert_eq!(uncapped.held_by(a), 1_000);
        drop(all);
        assert_eq!(uncapped.clients(), 0);
    }
}

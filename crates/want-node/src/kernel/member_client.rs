//! The node's HTTP clients to other members (vote gossip and backfill, catch-up, blob repair
//! and replication; Raft and forwarded transactions go through the consensus transport, which
//! uses the same TLS): members whose URL is `https://` are reached over the members' TLS
//! (`want_consensus::net::tls`: this node's certificate, the server's key checked against the
//! current members'), `http://` members as before.

use crate::kernel::node::Shared;

impl Shared {
    /// A client builder for requests to other members.
    pub fn member_client(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder();
        match self.member_tls.get() {
            Some(tls) => tls.client(builder),
            None => builder,
        }
    }

    /// [`Shared::member_client`] for a blocking client.
    pub fn member_client_blocking(&self) -> reqwest::blocking::ClientBuilder {
        let builder = reqwest::blocking::Client::builder();
        match self.member_tls.get() {
            Some(tls) => tls.blocking(builder),
            None => builder,
        }
    }
}

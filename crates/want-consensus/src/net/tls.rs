//! TLS between members: a member whose URL is `https://` is reached over TLS 1.3 with mutual
//! authentication, so that an observer on the network can neither read what members exchange
//! nor take part in it.
//!
//! Trust is the members' node keys, not a certificate authority (as in libp2p's TLS): each node
//! presents a self-signed X.509 certificate whose key is its Ed25519 node key
//! ([`self_signed_certificate`]), made at startup, and each side accepts the other's
//! certificate only when its SubjectPublicKeyInfo is exactly the Ed25519 key of a current member
//! ([`TrustedKeys`]: the Raft membership, or the genesis members and configured peers while
//! Raft knows none — the same set the transport checks envelopes against). TLS then checks the
//! handshake signature with that key, which proves the other side holds it. Names, dates,
//! issuers and the certificate's own signature are not trusted and not checked: the key is the
//! identity, a member's key changes only by a signed membership change, and a stolen key is
//! replaced that way, not by waiting for a certificate to expire.
//!
//! A client accepts any current member's key, not only the key of the member it dials: the
//! envelopes inside the connection are still signed by the member they come from and checked
//! against that member's key ([`super::transport`]), so a member answering in another's place
//! gains nothing it could not read as a member anyway.
//!
//! Session resumption is off on both sides: every connection is a full handshake, so that a
//! removed member's key is refused on its next connection instead of riding on a ticket.
//! Members keep their connections open ([`super::transport::POOL_IDLE_TIMEOUT_MS`]), so the
//! cost is one handshake per idle period.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer,
    UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use want_crypto::NodeKey;

use crate::ConsensusError;

/// The DER of an Ed25519 SubjectPublicKeyInfo (RFC 8410) up to its 32-byte key: `SEQUENCE (42
/// bytes) { SEQUENCE { OID 1.3.101.112 }, BIT STRING (33 bytes, 0 unused bits) }`.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Length of an Ed25519 public key, in bytes.
const KEY_LEN: usize = 32;
/// Bytes of the key named in a certificate's subject (for people reading it).
const NAME_KEY_BYTES: usize = 8;

/// The node keys a member connection may be bound to: those of the current members.
pub trait TrustedKeys: Send + Sync + fmt::Debug {
    /// Whether `key` is the node key of a current member.
    fn is_member_key(&self, key: &[u8; KEY_LEN]) -> bool;
}

/// Whether a member URL is reached over TLS (`https://`).
pub fn is_tls_url(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// This node's TLS settings for member connections: as a client (its certificate for client
/// authentication, the member-key check of the server) and as the member listener's server.
#[derive(Clone, Debug)]
pub struct MemberTls {
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

impl MemberTls {
    /// The settings of the node holding `key`, trusting the keys of `trusted` (read at each
    /// handshake, so membership changes apply to the next connection).
    pub fn new(key: &NodeKey, trusted: Arc<dyn TrustedKeys>) -> Result<MemberTls, ConsensusError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(MemberKeyVerifier {
            trusted,
            algorithms: provider.signature_verification_algorithms,
        });
        let cert = self_signed_certificate(key)?;
        let private_key = || {
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.to_pkcs8_der().as_slice().to_vec(),
            ))
        };
        let failed = |what: &str, e: rustls::Error| {
            ConsensusError::Tls(format!(
                "cannot set up {what} from the node key: {e} (a bug: the node key is always Ed25519; report it)"
            ))
        };
        let mut client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| failed("the member client", e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_client_auth_cert(vec![cert.clone()], private_key())
            .map_err(|e| failed("the member client", e))?;
        client.resumption = rustls::client::Resumption::disabled();
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| failed("the member listener", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], private_key())
            .map_err(|e| failed("the member listener", e))?;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
        Ok(MemberTls {
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    /// The client side: this node's certificate, and the member-key check of the server.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }

    /// The member listener's side: this node's certificate, and a client certificate with a
    /// member's key required.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// `builder` set to reach `https://` members with these settings (`http://` URLs are
    /// unaffected). Every node-to-node client is built through this or [`MemberTls::blocking`].
    pub fn client(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.use_preconfigured_tls((*self.client).clone())
    }

    /// [`MemberTls::client`] for a blocking client.
    pub fn blocking(
        &self,
        builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::blocking::ClientBuilder {
        builder.use_preconfigured_tls((*self.client).clone())
    }
}

/// Accepts a certificate (server's or client's) only when its key is a current member's node
/// key, and a handshake signature only when it verifies with that key (Ed25519 only).
#[derive(Debug)]
struct MemberKeyVerifier {
    trusted: Arc<dyn TrustedKeys>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl MemberKeyVerifier {
    fn check_member(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let key = certificate_key(cert).ok_or(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ))?;
        if self.trusted.is_member_key(&key) {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let key = certificate_key(cert).ok_or(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ))?;
        let spki = ed25519_spki(&key);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki.as_slice()),
            dss,
            &self.algorithms,
        )
    }
}

/// Member TLS is TLS 1.3 only: a TLS 1.2 signature is never asked for.
fn no_tls12() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::General(
        "member connections are TLS 1.3 only".into(),
    ))
}

impl ServerCertVerifier for MemberKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check_member(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for MemberKeyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check_member(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The SubjectPublicKeyInfo of an Ed25519 key.
fn ed25519_spki(key: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut spki = ED25519_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(key);
    spki
}

/// The self-signed X.509 certificate of a node key, made by `rcgen`: its SubjectPublicKeyInfo
/// is the node's Ed25519 key, signed by it; the subject names the key's first bytes (for people:
/// nothing trusts the name), and rcgen's default validity stands (nothing checks dates: see the
/// module documentation).
pub fn self_signed_certificate(key: &NodeKey) -> Result<CertificateDer<'static>, ConsensusError> {
    let failed = |e: rcgen::Error| {
        ConsensusError::Tls(format!(
            "cannot make this node's member certificate from its node key: {e} (a bug: the node key is always Ed25519; report it)"
        ))
    };
    let pkcs8 = key.to_pkcs8_der();
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
        &rcgen::PKCS_ED25519,
    )
    .map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    let common_name = format!(
        "want member {}",
        hex::encode(&key.public_key()[..NAME_KEY_BYTES])
    );
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key_pair).map_err(failed)?;
    Ok(cert.der().clone())
}

/// The Ed25519 key of a certificate: `None` unless it parses as an X.509 certificate
/// (`rustls`'s parser, webpki's) whose SubjectPublicKeyInfo is exactly an Ed25519 key (any
/// other algorithm is refused). Nothing else of the certificate is trusted.
pub fn certificate_key(cert: &CertificateDer<'_>) -> Option<[u8; KEY_LEN]> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    spki.as_ref()
        .strip_prefix(&ED25519_SPKI_PREFIX)?
        .try_into()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, ServerConnection};

    /// A fixed set of member keys.
    #[derive(Debug)]
    struct Keys(Vec<[u8; KEY_LEN]>);

    impl TrustedKeys for Keys {
        fn is_member_key(&self, key: &[u8; KEY_LEN]) -> bool {
            self.0.contains(key)
        }
    }

    fn tls(key: &NodeKey, members: &[&NodeKey]) -> MemberTls {
        let keys = Keys(members.iter().map(|k| k.public_key()).collect());
        MemberTls::new(key, Arc::new(keys)).expect("member TLS")
    }

    /// Runs a TLS handshake in memory; the first error names the side that refused.
    fn handshake(
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
    ) -> Result<(), String> {
        let name = ServerName::try_from("127.0.0.1").expect("an IP address");
        let mut c = ClientConnection::new(client, name).map_err(|e| format!("client: {e}"))?;
        let mut s = ServerConnection::new(server).map_err(|e| format!("server: {e}"))?;
        for _ in 0..16 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).map_err(|e| e.to_string())?;
            let mut rd = buf.as_slice();
            while !rd.is_empty() {
                s.read_tls(&mut rd).map_err(|e| e.to_string())?;
                s.process_new_packets()
                    .map_err(|e| format!("server: {e}"))?;
            }
            let mut buf = Vec::new();
            s.write_tls(&mut buf).map_err(|e| e.to_string())?;
            let mut rd = buf.as_slice();
            while !rd.is_empty() {
                c.read_tls(&mut rd).map_err(|e| e.to_string())?;
                c.process_new_packets()
                    .map_err(|e| format!("client: {e}"))?;
            }
            if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() && !s.wants_write() {
                return Ok(());
            }
        }
        Err("the handshake did not finish".into())
    }

    #[test]
    fn a_certificate_carries_its_node_key_and_nothing_else_passes_for_one() {
        let key = NodeKey::generate();
        let cert = self_signed_certificate(&key).unwrap();
        assert_eq!(certificate_key(&cert), Some(key.public_key()));
        let der = |bytes: &[u8]| CertificateDer::from(bytes.to_vec());
        let mut trailing = cert.to_vec();
        trailing.push(0);
        assert_eq!(certificate_key(&der(&trailing)), None);
        for cut in [0, 1, 10, cert.len() / 2, cert.len() - 1] {
            assert_eq!(certificate_key(&der(&cert[..cut])), None, "cut at {cut}");
        }
        // Another algorithm in the key's place (a P-256 OID's first byte) is not an Ed25519 key.
        let at = cert
            .windows(ED25519_SPKI_PREFIX.len())
            .position(|w| w == ED25519_SPKI_PREFIX)
            .expect("the SPKI is in the certificate");
        let mut other = cert.to_vec();
        other[at + 6] = 0x2a;
        assert_eq!(certificate_key(&der(&other)), None);
        assert_eq!(certificate_key(&der(b"not a certificate")), None);
    }

    #[test]
    fn members_complete_a_mutual_handshake() {
        let (a, b) = (NodeKey::generate(), NodeKey::generate());
        let members = [&a, &b];
        handshake(
            tls(&a, &members).client_config(),
            tls(&b, &members).server_config(),
        )
        .expect("members connect");
    }

    #[test]
    fn a_server_whose_key_is_not_a_members_is_refused_by_the_client() {
        let (a, b, stranger) = (
            NodeKey::generate(),
            NodeKey::generate(),
            NodeKey::generate(),
        );
        // The stranger trusts the members, but they do not know its key.
        let err = handshake(
            tls(&a, &[&a, &b]).client_config(),
            tls(&stranger, &[&a, &b]).server_config(),
        )
        .unwrap_err();
        assert!(err.starts_with("client:"), "{err}");
    }

    #[test]
    fn a_client_whose_key_is_not_a_members_or_without_a_certificate_is_refused_by_the_server() {
        let (a, b, stranger) = (
            NodeKey::generate(),
            NodeKey::generate(),
            NodeKey::generate(),
        );
        let server = tls(&b, &[&a, &b]).server_config();
        let err = handshake(tls(&stranger, &[&a, &b]).client_config(), server.clone()).unwrap_err();
        assert!(err.starts_with("server:"), "{err}");
        // No certificate at all.
        let keys: Arc<dyn TrustedKeys> = Arc::new(Keys(vec![a.public_key(), b.public_key()]));
        let verifier = Arc::new(MemberKeyVerifier {
            trusted: keys,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        });
        let anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
        let err = handshake(Arc::new(anonymous), server).unwrap_err();
        assert!(err.starts_with("server:"), "{err}");
    }

    /// Presents one certificate with a signing key that need not match it.
    #[derive(Debug)]
    struct Presents(Arc<rustls::sign::CertifiedKey>);

    impl rustls::server::ResolvesServerCert for Presents {
        fn resolve(
            &self,
            _hello: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    #[test]
    fn a_members_certificate_presented_without_its_private_key_is_refused() {
        let (a, b, thief) = (
            NodeKey::generate(),
            NodeKey::generate(),
            NodeKey::generate(),
        );
        // The thief copied member b's certificate but signs the handshake with its own key.
        let provider = rustls::crypto::ring::default_provider();
        let signer = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                thief.to_pkcs8_der().as_slice().to_vec(),
            )))
            .unwrap();
        let stolen =
            rustls::sign::CertifiedKey::new(vec![self_signed_certificate(&b).unwrap()], signer);
        let keys: Arc<dyn TrustedKeys> = Arc::new(Keys(vec![a.public_key(), b.public_key()]));
        let verifier = Arc::new(MemberKeyVerifier {
            trusted: keys,
            algorithms: provider.signature_verification_algorithms,
        });
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Presents(Arc::new(stolen))));
        let err = handshake(tls(&a, &[&a, &b]).client_config(), Arc::new(server)).unwrap_err();
        // The certificate passes (a member's key); its handshake signature does not.
        assert!(
            err.starts_with("client:") && err.contains("BadSignature"),
            "{err}"
        );
    }

    #[test]
    fn only_https_urls_are_member_tls() {
        assert!(is_tls_url("https://10.0.0.5:9545"));
        assert!(is_tls_url("HTTPS://a.example"));
        assert!(!is_tls_url("http://10.0.0.5:9545"));
        assert!(!is_tls_url("https"));
    }
}

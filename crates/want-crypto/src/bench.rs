//! Micro-benchmarks of signature verification, for sizing a node (`want-node bench`).

use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::RngCore;
use secp256k1::ecdsa::{RecoverableSignature, Signature};
use secp256k1::{Message, SECP256K1};

use crate::secp::PrivateKey;

/// Number of distinct digests signed before timing (so caches do not flatter the result).
const BENCH_DIGESTS: usize = 1_000;
/// Iterations between two reads of the clock.
const CLOCK_CHECK_EVERY: usize = 32;

fn random_messages() -> Vec<Message> {
    (0..BENCH_DIGESTS)
        .map(|_| {
            let mut d = [0u8; 32];
            OsRng.fill_bytes(&mut d);
            Message::from_digest(d)
        })
        .collect()
}

/// Runs `op(i)` for at least `duration` on this thread; returns operations per second.
fn rate(duration: Duration, mut op: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let mut done: usize = 0;
    loop {
        for _ in 0..CLOCK_CHECK_EVERY {
            op(done % BENCH_DIGESTS);
            done += 1;
        }
        let elapsed = start.elapsed();
        if elapsed >= duration {
            return done as f64 / elapsed.as_secs_f64();
        }
    }
}

/// Plain ECDSA verifications per second with a known public key (what a verifier does after
/// recovering the key), on the current thread.
pub fn secp256k1_verify_rate(duration: Duration) -> f64 {
    let key = PrivateKey::generate();
    let public = key.public_key();
    let sk = secp256k1::SecretKey::from_byte_array(key.as_bytes())
        .expect("invariant: PrivateKey holds a valid scalar");
    let msgs = random_messages();
    let sigs: Vec<Signature> = msgs.iter().map(|m| SECP256K1.sign_ecdsa(m, &sk)).collect();
    rate(duration, |i| {
        let ok = SECP256K1.verify_ecdsa(&msgs[i], &sigs[i], &public).is_ok();
        assert!(ok, "invariant: freshly made benchmark signatures verify");
    })
}

/// Public-key recoveries per second from recoverable signatures, on the current thread.
pub fn secp256k1_recover_rate(duration: Duration) -> f64 {
    let key = PrivateKey::generate();
    let sk = secp256k1::SecretKey::from_byte_array(key.as_bytes())
        .expect("invariant: PrivateKey holds a valid scalar");
    let msgs = random_messages();
    let sigs: Vec<RecoverableSignature> = msgs
        .iter()
        .map(|m| SECP256K1.sign_ecdsa_recoverable(m, &sk))
        .collect();
    rate(duration, |i| {
        let ok = SECP256K1.recover_ecdsa(&msgs[i], &sigs[i]).is_ok();
        assert!(ok, "invariant: freshly made benchmark signatures recover");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_and_recover_rates_are_positive() {
        assert!(secp256k1_verify_rate(Duration::from_millis(50)) > 0.0);
        assert!(secp256k1_recover_rate(Duration::from_millis(50)) > 0.0);
    }
}

//! Encrypted key files in the Web3 Secret Storage v3 format (the keystore of Ethereum and TRON
//! wallets): scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR, MAC = Keccak-256(dk[16..32] ‖ ciphertext).
//!
//! secp256k1 keys are stored as their 32 raw bytes, so the files import into other wallets. RSA
//! keys are stored as PKCS#8 DER and marked with the top-level field `"x-want-key-type": "rsa"`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::rsa_keys::RsaPrivateKey;
use crate::secp::{PrivateKey, PRIVATE_KEY_LEN};
use crate::tx_sign::SigningKey;
use crate::util::keccak256;
use crate::CryptoError;

/// What a keystore holds: a transaction signing key.
pub type KeyMaterial = SigningKey;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The only keystore version read and written.
pub const KEYSTORE_VERSION: u64 = 3;
/// Length of the derived key, in bytes (16 for AES-128, 16 for the MAC).
pub const DERIVED_KEY_LEN: usize = 32;
/// Length of the AES-128-CTR initialisation vector, in bytes.
pub const IV_LEN: usize = 16;
/// Length of the KDF salt written, in bytes.
pub const SALT_LEN: usize = 32;
/// Length of the Keccak-256 MAC, in bytes.
pub const MAC_LEN: usize = 32;
/// scrypt log2(n) of [`KdfStrength::Standard`] (n = 262,144; ~256 MiB, about a second).
pub const SCRYPT_LOG_N_STANDARD: u8 = 18;
/// scrypt log2(n) of [`KdfStrength::Light`] (n = 4,096; for tests only).
pub const SCRYPT_LOG_N_LIGHT: u8 = 12;
/// scrypt block size parameter r written.
pub const SCRYPT_R: u32 = 8;
/// scrypt parallelism parameter p written.
pub const SCRYPT_P: u32 = 1;
/// Largest scrypt n accepted on read.
pub const SCRYPT_N_MAX: u64 = 1 << 20;
/// Largest scrypt memory (128 · n · r bytes) accepted on read: 1 GiB.
pub const SCRYPT_MEMORY_MAX_BYTES: u64 = 1 << 30;
/// Largest scrypt work (n · r · p) accepted on read: 4 × the standard setting.
pub const SCRYPT_WORK_MAX: u64 = 1 << 23;
/// Largest PBKDF2 iteration count accepted on read.
pub const PBKDF2_ROUNDS_MAX: u64 = 10_000_000;
/// Largest salt accepted on read, in bytes.
pub const SALT_MAX_BYTES: usize = 1024;
/// Largest ciphertext accepted on read, in bytes (a 4096-bit RSA PKCS#8 key is ~2,400).
pub const CIPHERTEXT_MAX_BYTES: usize = 8 * 1024;
/// Largest keystore file read, in bytes.
pub const KEYSTORE_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Top-level field marking a non-secp256k1 key.
pub const KEY_TYPE_FIELD: &str = "x-want-key-type";
/// Value of [`KEY_TYPE_FIELD`] for RSA keys.
pub const KEY_TYPE_RSA: &str = "rsa";

/// Cost of the scrypt KDF written by [`encrypt_keystore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KdfStrength {
    /// n = 2^18, r = 8, p = 1 (as geth): ~256 MiB and about a second per unlock.
    #[default]
    Standard,
    /// n = 2^12, r = 8, p = 1: weak, for tests only — never for real keys.
    Light,
}

impl KdfStrength {
    fn log_n(self) -> u8 {
        match self {
            KdfStrength::Standard => SCRYPT_LOG_N_STANDARD,
            KdfStrength::Light => SCRYPT_LOG_N_LIGHT,
        }
    }
}

/// A key derivation function with its parameters, as read from a keystore.
enum Kdf {
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
    },
    Pbkdf2 {
        rounds: u32,
        salt: Vec<u8>,
    },
}

impl Kdf {
    fn derive(&self, password: &[u8]) -> Result<Zeroizing<[u8; DERIVED_KEY_LEN]>, CryptoError> {
        let mut dk = Zeroizing::new([0u8; DERIVED_KEY_LEN]);
        match self {
            // scrypt ≥ 0.12 is needed: 0.11 applied RFC 7914's erroneous bound n < 2^(16·r)
            // (errata 5971) and refused n = 2^18, r = 1 — the official vector and the default
            // of eth-account / web3.py keystores.
            Kdf::Scrypt { log_n, r, p, salt } => {
                let params = scrypt::Params::new(*log_n, *r, *p).map_err(|e| {
                    CryptoError::corrupt(
                        "crypto.kdfparams",
                        format!("has scrypt parameters the KDF refuses ({e})"),
                    )
                })?;
                scrypt::scrypt(password, salt, &params, dk.as_mut()).map_err(|e| {
                    CryptoError::corrupt(
                        "crypto.kdfparams.dklen",
                        format!("is refused by scrypt ({e})"),
                    )
                })?;
            }
            Kdf::Pbkdf2 { rounds, salt } => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *rounds, dk.as_mut());
            }
        }
        Ok(dk)
    }
}

/// Reads fields of a JSON object, naming the full path of any missing or malformed field.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Result<&'a Value, CryptoError> {
        self.map
            .get(key)
            .ok_or_else(|| CryptoError::corrupt(self.field_path(key), "is missing"))
    }

    fn obj(&self, key: &str) -> Result<Obj<'a>, CryptoError> {
        let map = self
            .get(key)?
            .as_object()
            .ok_or_else(|| CryptoError::corrupt(self.field_path(key), "is not a JSON object"))?;
        Ok(Obj {
            map,
            path: self.field_path(key),
        })
    }

    fn str(&self, key: &str) -> Result<&'a str, CryptoError> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| CryptoError::corrupt(self.field_path(key), "is not a string"))
    }

    fn u64(&self, key: &str) -> Result<u64, CryptoError> {
        self.get(key)?.as_u64().ok_or_else(|| {
            CryptoError::corrupt(self.field_path(key), "is not a non-negative integer")
        })
    }

    fn hex(&self, key: &str, min: usize, max: usize) -> Result<Vec<u8>, CryptoError> {
        let s = self.str(key)?;
        let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| {
            CryptoError::corrupt(self.field_path(key), format!("is not valid hex ({e})"))
        })?;
        if bytes.len() < min || bytes.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(CryptoError::corrupt(
                self.field_path(key),
                format!("is {} bytes; expected {expected}", bytes.len()),
            ));
        }
        Ok(bytes)
    }
}

fn parse_kdf(crypto: &Obj<'_>) -> Result<Kdf, CryptoError> {
    let kdf = crypto.str("kdf")?;
    let params = crypto.obj("kdfparams")?;
    let dklen = params.u64("dklen")?;
    if dklen != DERIVED_KEY_LEN as u64 {
        return Err(CryptoError::corrupt(
            params.field_path("dklen"),
            format!("is {dklen}; only {DERIVED_KEY_LEN} is supported"),
        ));
    }
    let salt = params.hex("salt", 0, SALT_MAX_BYTES)?;
    match kdf {
        "scrypt" => {
            let n = params.u64("n")?;
            if !n.is_power_of_two() || !(2..=SCRYPT_N_MAX).contains(&n) {
                return Err(CryptoError::corrupt(
                    params.field_path("n"),
                    format!("is {n}; expected a power of two from 2 to {SCRYPT_N_MAX}"),
                ));
            }
            let r = params.u64("r")?;
            if r == 0 || r.saturating_mul(n).saturating_mul(128) > SCRYPT_MEMORY_MAX_BYTES {
                return Err(CryptoError::corrupt(
                    params.field_path("r"),
                    format!("is {r}; with n = {n} scrypt would need more than {SCRYPT_MEMORY_MAX_BYTES} bytes of memory (or r is 0)"),
                ));
            }
            let p = params.u64("p")?;
            if p == 0 || p.saturating_mul(r).saturating_mul(n) > SCRYPT_WORK_MAX {
                return Err(CryptoError::corrupt(
                    params.field_path("p"),
                    format!("is {p}; n·r·p must be between 1 and {SCRYPT_WORK_MAX}"),
                ));
            }
            Ok(Kdf::Scrypt {
                log_n: u8::try_from(n.trailing_zeros())
                    .expect("invariant: log2 of a u64 is below 64"),
                r: u32::try_from(r).expect("invariant: r is bounded by the memory limit"),
                p: u32::try_from(p).expect("invariant: p is bounded by the work limit"),
                salt,
            })
        }
        "pbkdf2" => {
            let prf = params.str("prf")?;
            if prf != "hmac-sha256" {
                return Err(CryptoError::corrupt(
                    params.field_path("prf"),
                    format!("is {prf:?}; only \"hmac-sha256\" is supported"),
                ));
            }
            let c = params.u64("c")?;
            if c == 0 || c > PBKDF2_ROUNDS_MAX {
                return Err(CryptoError::corrupt(
                    params.field_path("c"),
                    format!("is {c}; expected 1 to {PBKDF2_ROUNDS_MAX} iterations"),
                ));
            }
            Ok(Kdf::Pbkdf2 {
                rounds: u32::try_from(c).expect("invariant: c is at most PBKDF2_ROUNDS_MAX"),
                salt,
            })
        }
        other => Err(CryptoError::corrupt(
            crypto.field_path("kdf"),
            format!("is {other:?}; only \"scrypt\" and \"pbkdf2\" are supported"),
        )),
    }
}

/// Equality in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn mac_of(derived_key: &[u8; DERIVED_KEY_LEN], ciphertext: &[u8]) -> [u8; MAC_LEN] {
    let mut body = Zeroizing::new(Vec::with_capacity(16 + ciphertext.len()));
    body.extend_from_slice(&derived_key[16..32]);
    body.extend_from_slice(ciphertext);
    keccak256(&body)
}

fn apply_aes_128_ctr(derived_key: &[u8; DERIVED_KEY_LEN], iv: &[u8; IV_LEN], data: &mut [u8]) {
    let mut cipher = Aes128Ctr::new(derived_key[..16].into(), iv.into());
    cipher.apply_keystream(data);
}

/// Decrypts a Web3 Secret Storage v3 keystore. The `address` field is ignored (wallets disagree on
/// its format); the address is derived from the decrypted key.
///
/// Errors: [`CryptoError::WrongPassword`] when the MAC does not match (wrong password, or a
/// damaged ciphertext), [`CryptoError::CorruptKeystore`] naming the JSON field otherwise.
pub fn decrypt_keystore(json: &str, password: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let doc: Value = serde_json::from_str(json)
        .map_err(|e| CryptoError::corrupt("(document)", format!("is not valid JSON ({e})")))?;
    let root = Obj {
        map: doc
            .as_object()
            .ok_or_else(|| CryptoError::corrupt("(document)", "is not a JSON object"))?,
        path: String::new(),
    };
    let version = root.u64("version")?;
    if version != KEYSTORE_VERSION {
        return Err(CryptoError::corrupt(
            "version",
            format!("is {version}; only version {KEYSTORE_VERSION} is supported"),
        ));
    }
    // Some wallets write `Crypto`.
    let crypto_key = if root.map.contains_key("crypto") {
        "crypto"
    } else if root.map.contains_key("Crypto") {
        "Crypto"
    } else {
        return Err(CryptoError::corrupt("crypto", "is missing"));
    };
    let crypto = root.obj(crypto_key)?;
    let cipher = crypto.str("cipher")?;
    if cipher != "aes-128-ctr" {
        return Err(CryptoError::corrupt(
            crypto.field_path("cipher"),
            format!("is {cipher:?}; only \"aes-128-ctr\" is supported"),
        ));
    }
    let iv_bytes = crypto.obj("cipherparams")?.hex("iv", IV_LEN, IV_LEN)?;
    let iv: [u8; IV_LEN] = iv_bytes
        .as_slice()
        .try_into()
        .expect("invariant: the iv length was checked");
    let ciphertext = crypto.hex("ciphertext", 1, CIPHERTEXT_MAX_BYTES)?;
    let mac = crypto.hex("mac", MAC_LEN, MAC_LEN)?;
    let key_type = match root.map.get(KEY_TYPE_FIELD) {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| CryptoError::corrupt(KEY_TYPE_FIELD, "is not a string"))?,
        ),
    };
    if let Some(t) = key_type {
        if t != KEY_TYPE_RSA {
            return Err(CryptoError::corrupt(
                KEY_TYPE_FIELD,
                format!("is {t:?}; only {KEY_TYPE_RSA:?} is known"),
            ));
        }
    }
    let kdf = parse_kdf(&crypto)?;

    let derived_key = kdf.derive(password)?;
    if !constant_time_eq(&mac_of(&derived_key, &ciphertext), &mac) {
        let keystore = match root.map.get("id").and_then(Value::as_str) {
            Some(id) => format!("with id {id}"),
            None => "(no id)".to_string(),
        };
        return Err(CryptoError::WrongPassword { keystore });
    }
    let mut plaintext = Zeroizing::new(ciphertext);
    apply_aes_128_ctr(&derived_key, &iv, &mut plaintext);
    let ciphertext_path = crypto.field_path("ciphertext");
    match key_type {
        None => {
            if plaintext.len() != PRIVATE_KEY_LEN {
                return Err(CryptoError::corrupt(
                    ciphertext_path,
                    format!(
                        "decrypts to {} bytes; a secp256k1 key is {PRIVATE_KEY_LEN} bytes",
                        plaintext.len()
                    ),
                ));
            }
            let key = PrivateKey::from_bytes(&plaintext).map_err(|e| {
                CryptoError::corrupt(
                    ciphertext_path,
                    format!("decrypts to an unusable key ({e})"),
                )
            })?;
            Ok(SigningKey::Secp256k1(key))
        }
        Some(_) => {
            let key = RsaPrivateKey::from_pkcs8_der(&plaintext).map_err(|e| {
                CryptoError::corrupt(
                    ciphertext_path,
                    format!("decrypts to an unusable RSA key ({e})"),
                )
            })?;
            Ok(SigningKey::Rsa(key))
        }
    }
}

/// Encrypts a key as a Web3 Secret Storage v3 keystore (scrypt, AES-128-CTR) and returns the JSON.
/// The `address` field is the TRON base58 address (other wallets write hex; readers ignore it).
pub fn encrypt_keystore(key: &KeyMaterial, password: &[u8], strength: KdfStrength) -> String {
    let plaintext: Zeroizing<Vec<u8>> = match key {
        SigningKey::Secp256k1(k) => Zeroizing::new(k.as_bytes().to_vec()),
        SigningKey::Rsa(k) => k.to_pkcs8_der(),
    };
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    let kdf = Kdf::Scrypt {
        log_n: strength.log_n(),
        r: SCRYPT_R,
        p: SCRYPT_P,
        salt: salt.to_vec(),
    };
    let derived_key = kdf
        .derive(password)
        .expect("invariant: the built-in scrypt parameters are valid");
    let mut ciphertext = plaintext.to_vec();
    apply_aes_128_ctr(&derived_key, &iv, &mut ciphertext);
    let mac = mac_of(&derived_key, &ciphertext);
    let mut doc = json!({
        "address": key.address().to_base58(),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": hex::encode(iv) },
            "ciphertext": hex::encode(&ciphertext),
            "kdf": "scrypt",
            "kdfparams": {
                "dklen": DERIVED_KEY_LEN,
                "n": 1u64 << strength.log_n(),
                "p": SCRYPT_P,
                "r": SCRYPT_R,
                "salt": hex::encode(salt),
            },
            "mac": hex::encode(mac),
        },
        "id": uuid::Uuid::new_v4().to_string(),
        "version": KEYSTORE_VERSION,
    });
    if let SigningKey::Rsa(_) = key {
        if let Some(map) = doc.as_object_mut() {
            map.insert(KEY_TYPE_FIELD.into(), Value::from(KEY_TYPE_RSA));
        }
    }
    serde_json::to_string_pretty(&doc).expect("invariant: a serde_json::Value always serializes")
}

/// `YYYY-MM-DDTHH-MM-SS.nnnnnnnnnZ` (ISO 8601 with `-` for `:`, as geth names keystore files).
fn file_timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}.{:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).expect("invariant: month is 1..=12"),
        u32::try_from(d).expect("invariant: day is 1..=31"),
    )
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CryptoError + '_ {
    move |source| CryptoError::KeystoreIo {
        path: path.to_path_buf(),
        source,
    }
}

/// Encrypts `key` and writes it to `dir/UTC--<time>--<address>.json` atomically (temporary file,
/// fsync, rename), readable by the owner only (0600) on Unix. Creates `dir` (0700) if needed.
pub fn write_keystore_file(
    dir: &Path,
    key: &KeyMaterial,
    password: &[u8],
    strength: KdfStrength,
) -> Result<PathBuf, CryptoError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err(dir))?;

    let json = encrypt_keystore(key, password, strength);
    let name = format!(
        "UTC--{}--{}.json",
        file_timestamp(SystemTime::now()),
        key.address().to_base58()
    );
    let final_path = dir.join(&name);
    let tmp_path = dir.join(format!(".{name}.tmp"));

    let write_tmp = || -> Result<(), CryptoError> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp_path).map_err(io_err(&tmp_path))?;
        file.write_all(json.as_bytes()).map_err(io_err(&tmp_path))?;
        file.sync_all().map_err(io_err(&tmp_path))?;
        if final_path.exists() {
            return Err(CryptoError::KeystoreIo {
                path: final_path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a keystore file with this name already exists",
                ),
            });
        }
        fs::rename(&tmp_path, &final_path).map_err(io_err(&final_path))?;
        Ok(())
    };
    if let Err(e) = write_tmp() {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    // Make the rename itself durable.
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(final_path)
}

/// Reads and decrypts a keystore file (at most [`KEYSTORE_FILE_BYTES_MAX`] bytes).
pub fn read_keystore_file(path: &Path, password: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let mut json = String::new();
    file.take(KEYSTORE_FILE_BYTES_MAX + 1)
        .read_to_string(&mut json)
        .map_err(io_err(path))?;
    if json.len() as u64 > KEYSTORE_FILE_BYTES_MAX {
        return Err(CryptoError::corrupt(
            "(document)",
            format!(
                "is larger than {KEYSTORE_FILE_BYTES_MAX} bytes in {}",
                path.display()
            ),
        ));
    }
    decrypt_keystore(&json, password).map_err(|e| match e {
        CryptoError::WrongPassword { .. } => CryptoError::WrongPassword {
            keystore: path.display().to_string(),
        },
        CryptoError::CorruptKeystore { field, reason } => CryptoError::CorruptKeystore {
            field,
            reason: format!("{reason} (in {})", path.display()),
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_PASSWORD: &[u8] = b"testpassword";
    const VECTOR_SECRET: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    // The two test vectors of the Web3 Secret Storage Definition ("Test Vectors" section of
    // https://ethereum.org/en/developers/docs/data-structures-and-encoding/web3-secret-storage/,
    // formerly github.com/ethereum/wiki/wiki/Web3-Secret-Storage-Definition).
    const PBKDF2_VECTOR: &str = r#"{
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": "6087dab2f9fdbbfaddc31a909735c1e6" },
            "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "kdf": "pbkdf2",
            "kdfparams": {
                "c": 262144,
                "dklen": 32,
                "prf": "hmac-sha256",
                "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"
            },
            "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    const SCRYPT_VECTOR: &str = r#"{
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": "83dbcc02d8ccb40e466191a123791e0e" },
            "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
            "kdf": "scrypt",
            "kdfparams": {
                "dklen": 32,
                "n": 262144,
                "p": 8,
                "r": 1,
                "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"
            },
            "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    fn secp_hex(key: &KeyMaterial) -> String {
        match key {
            SigningKey::Secp256k1(k) => k.to_hex(),
            SigningKey::Rsa(_) => panic!("expected a secp256k1 key"),
        }
    }

    fn light_secp_keystore(password: &[u8]) -> (PrivateKey, Value) {
        let key = PrivateKey::generate();
        let json = encrypt_keystore(&key.clone().into(), password, KdfStrength::Light);
        (key, serde_json::from_str(&json).unwrap())
    }

    fn corrupt_field(doc: &Value, password: &[u8]) -> String {
        match decrypt_keystore(&doc.to_string(), password) {
            Err(CryptoError::CorruptKeystore { field, .. }) => field,
            other => panic!("expected a corrupt keystore error, got {other:?}"),
        }
    }

    #[test]
    fn official_pbkdf2_vector_decrypts() {
        let key = decrypt_keystore(PBKDF2_VECTOR, VECTOR_PASSWORD).unwrap();
        assert_eq!(secp_hex(&key), VECTOR_SECRET);
        // The vector's Ethereum address 008aeeda…786b, with TRON's 0x41 prefix.
        assert_eq!(
            key.address().to_hex(),
            "41008aeeda4d805471df9b2a5b0f38a0c3bcba786b"
        );
    }

    #[test]
    fn official_scrypt_vector_decrypts() {
        let key = decrypt_keystore(SCRYPT_VECTOR, VECTOR_PASSWORD).unwrap();
        assert_eq!(secp_hex(&key), VECTOR_SECRET);
    }

    #[test]
    fn wrong_password_is_reported_as_such() {
        let err = decrypt_keystore(PBKDF2_VECTOR, b"testpassword!").unwrap_err();
        assert!(matches!(err, CryptoError::WrongPassword { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("wrong password") && msg.contains("MAC"),
            "{msg}"
        );
        assert!(
            msg.contains("3198bc9c-6672-5ab3-d995-4942343ae5b6"),
            "{msg}"
        );
    }

    #[test]
    fn flipped_ciphertext_byte_fails_the_mac() {
        let (_, mut doc) = light_secp_keystore(b"pw");
        let ct = doc["crypto"]["ciphertext"].as_str().unwrap().to_string();
        let mut bytes = hex::decode(ct).unwrap();
        bytes[0] ^= 0x01;
        doc["crypto"]["ciphertext"] = Value::from(hex::encode(bytes));
        let err = decrypt_keystore(&doc.to_string(), b"pw").unwrap_err();
        assert!(matches!(err, CryptoError::WrongPassword { .. }), "{err}");
    }

    #[test]
    fn missing_fields_are_named_by_path() {
        let (_, doc) = light_secp_keystore(b"pw");
        for (path, expected) in [
            (&["crypto", "kdfparams", "n"][..], "crypto.kdfparams.n"),
            (
                &["crypto", "kdfparams", "salt"][..],
                "crypto.kdfparams.salt",
            ),
            (
                &["crypto", "cipherparams", "iv"][..],
                "crypto.cipherparams.iv",
            ),
            (&["crypto", "mac"][..], "crypto.mac"),
            (&["crypto"][..], "crypto"),
            (&["version"][..], "version"),
        ] {
            let mut broken = doc.clone();
            let mut cursor = &mut broken;
            for key in &path[..path.len() - 1] {
                cursor = &mut cursor[*key];
            }
            cursor.as_object_mut().unwrap().remove(path[path.len() - 1]);
            assert_eq!(corrupt_field(&broken, b"pw"), expected);
        }
    }

    #[test]
    fn capitalised_crypto_key_is_accepted() {
        let (key, mut doc) = light_secp_keystore(b"pw");
        let crypto = doc.as_object_mut().unwrap().remove("crypto").unwrap();
        doc["Crypto"] = crypto;
        let back = decrypt_keystore(&doc.to_string(), b"pw").unwrap();
        assert_eq!(back.address(), key.address());
        // And errors name the capitalised path.
        doc["Crypto"]["kdfparams"]["n"] = Value::from(3);
        assert_eq!(corrupt_field(&doc, b"pw"), "Crypto.kdfparams.n");
    }

    #[test]
    fn absurd_or_unknown_parameters_are_refused_before_any_work() {
        let (_, doc) = light_secp_keystore(b"pw");
        // (expected field in the error, JSON pointer to overwrite, new value)
        let cases = [
            (
                "crypto.kdfparams.n",
                "/crypto/kdfparams/n",
                json!(1u64 << 30),
            ),
            ("crypto.kdfparams.n", "/crypto/kdfparams/n", json!(1000)),
            ("crypto.kdfparams.n", "/crypto/kdfparams/n", json!("4096")),
            (
                "crypto.kdfparams.r",
                "/crypto/kdfparams/r",
                json!(1u64 << 20),
            ),
            (
                "crypto.kdfparams.p",
                "/crypto/kdfparams/p",
                json!(1u64 << 40),
            ),
            ("crypto.kdfparams.p", "/crypto/kdfparams/p", json!(0)),
            (
                "crypto.kdfparams.dklen",
                "/crypto/kdfparams/dklen",
                json!(64),
            ),
            (
                "crypto.kdfparams.salt",
                "/crypto/kdfparams/salt",
                json!("zz"),
            ),
            ("crypto.kdf", "/crypto/kdf", json!("argon2id")),
            ("crypto.cipher", "/crypto/cipher", json!("aes-128-cbc")),
            (
                "crypto.cipherparams.iv",
                "/crypto/cipherparams/iv",
                json!("00"),
            ),
            ("crypto.ciphertext", "/crypto/ciphertext", json!("")),
            ("crypto.mac", "/crypto/mac", json!("abcd")),
            ("version", "/version", json!(4)),
        ];
        for (expected, pointer, value) in cases {
            let mut broken = doc.clone();
            *broken.pointer_mut(pointer).unwrap() = value;
            assert_eq!(corrupt_field(&broken, b"pw"), expected);
        }
        let mut unknown_type = doc.clone();
        unknown_type[KEY_TYPE_FIELD] = json!("dsa");
        assert_eq!(corrupt_field(&unknown_type, b"pw"), KEY_TYPE_FIELD);
        let mut pbkdf2: Value = serde_json::from_str(PBKDF2_VECTOR).unwrap();
        pbkdf2["crypto"]["kdfparams"]["c"] = Value::from(1_000_000_000u64);
        assert_eq!(corrupt_field(&pbkdf2, b"x"), "crypto.kdfparams.c");
        pbkdf2["crypto"]["kdfparams"]["c"] = Value::from(1);
        pbkdf2["crypto"]["kdfparams"]["prf"] = Value::from("hmac-sha512");
        assert_eq!(corrupt_field(&pbkdf2, b"x"), "crypto.kdfparams.prf");
        assert!(matches!(
            decrypt_keystore("not json", b"x"),
            Err(CryptoError::CorruptKeystore { .. })
        ));
    }

    #[test]
    fn error_message_names_the_field_and_the_remedy() {
        let (_, mut doc) = light_secp_keystore(b"pw");
        doc["crypto"]["kdfparams"]["n"] = Value::from(1u64 << 30);
        let msg = decrypt_keystore(&doc.to_string(), b"pw")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("crypto.kdfparams.n") && msg.contains("power of two"),
            "{msg}"
        );
    }

    #[test]
    fn secp_key_round_trips_and_file_imports_elsewhere() {
        let (key, doc) = light_secp_keystore("pässword".as_bytes());
        assert_eq!(doc["version"], 3);
        assert_eq!(doc["address"], key.address().to_base58());
        assert!(doc.get(KEY_TYPE_FIELD).is_none());
        assert_eq!(doc["crypto"]["kdfparams"]["n"], 4096);
        assert!(uuid::Uuid::parse_str(doc["id"].as_str().unwrap()).is_ok());
        let back = decrypt_keystore(&doc.to_string(), "pässword".as_bytes()).unwrap();
        assert_eq!(secp_hex(&back), key.to_hex());
        // The address field is ignored on read (other wallets write hex there).
        let mut hex_addr = doc.clone();
        hex_addr["address"] = Value::from("008aeeda4d805471df9b2a5b0f38a0c3bcba786b");
        assert!(decrypt_keystore(&hex_addr.to_string(), "pässword".as_bytes()).is_ok());
    }

    #[test]
    fn rsa_key_round_trips_with_its_type_marker() {
        let key: KeyMaterial = crate::rsa_keys::tests::test_key().clone().into();
        let json = encrypt_keystore(&key, b"pw", KdfStrength::Light);
        let doc: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(doc[KEY_TYPE_FIELD], KEY_TYPE_RSA);
        let back = decrypt_keystore(&json, b"pw").unwrap();
        assert!(matches!(back, SigningKey::Rsa(_)));
        assert_eq!(back.address(), key.address());
    }

    #[test]
    fn standard_strength_writes_geth_parameters() {
        let key: KeyMaterial = PrivateKey::generate().into();
        let doc: Value =
            serde_json::from_str(&encrypt_keystore(&key, b"pw", KdfStrength::Standard)).unwrap();
        let params = &doc["crypto"]["kdfparams"];
        assert_eq!(params["n"], 262_144);
        assert_eq!(params["r"], 8);
        assert_eq!(params["p"], 1);
        assert_eq!(params["dklen"], 32);
    }

    #[test]
    fn keystore_file_is_written_privately_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let key: KeyMaterial = PrivateKey::generate().into();
        let sub = dir.path().join("keystore");
        let path = write_keystore_file(&sub, &key, b"pw", KdfStrength::Light).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("UTC--"), "{name}");
        assert!(
            name.ends_with(&format!("--{}.json", key.address().to_base58())),
            "{name}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 1);
        let back = read_keystore_file(&path, b"pw").unwrap();
        assert_eq!(back.address(), key.address());
        let err = read_keystore_file(&path, b"nope").unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let missing = read_keystore_file(&sub.join("absent.json"), b"pw").unwrap_err();
        assert!(
            matches!(missing, CryptoError::KeystoreIo { .. }),
            "{missing}"
        );
    }

    #[test]
    fn file_timestamps_are_iso_8601_utc() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(file_timestamp(t), "2023-11-14T22-13-20.000000005Z");
        assert_eq!(file_timestamp(UNIX_EPOCH), "1970-01-01T00-00-00.000000000Z");
        // 2000-02-29 (a leap day in a century leap year).
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert!(file_timestamp(leap).starts_with("2000-02-29T00-00-00"));
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::mutated;
        use proptest::prelude::*;
        use std::sync::OnceLock;

        /// One light keystore (scrypt n = 2^12) of a fixed key, made once.
        fn light() -> &'static (String, PrivateKey) {
            static K: OnceLock<(String, PrivateKey)> = OnceLock::new();
            K.get_or_init(|| {
                let key = PrivateKey::from_bytes(&[7u8; 32]).unwrap();
                let json = encrypt_keystore(
                    &SigningKey::Secp256k1(key.clone()),
                    b"pw",
                    KdfStrength::Light,
                );
                (json, key)
            })
        }

        fn refusal(e: &CryptoError) -> bool {
            matches!(
                e,
                CryptoError::CorruptKeystore { .. } | CryptoError::WrongPassword { .. }
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn any_text_is_refused_as_a_corrupt_keystore(s in "\\PC{0,200}") {
                let e = decrypt_keystore(&s, b"pw").unwrap_err();
                prop_assert!(matches!(e, CryptoError::CorruptKeystore { .. }), "{}", e);
            }

            #[test]
            fn a_mutated_keystore_opens_to_its_key_or_is_refused(s in mutated(Just(light().0.clone()))) {
                match decrypt_keystore(&s, b"pw") {
                    // The MAC covers the ciphertext, not the iv: a changed iv would open to
                    // another key, but then the plaintext check or the MAC must have held.
                    Ok(SigningKey::Secp256k1(k)) => {
                        let unchanged_iv = s.contains(&format!("\"iv\": \"{}\"", iv_of(&light().0)));
                        if unchanged_iv {
                            prop_assert_eq!(k.as_bytes(), light().1.as_bytes());
                        }
                    }
                    Ok(other) => prop_assert!(false, "opened as {:?}", other.address()),
                    Err(e) => prop_assert!(refusal(&e), "{}", e),
                }
            }

            #[test]
            fn keystores_with_any_field_value_open_or_are_refused(
                path in prop::sample::select(vec![
                    "/version", "/crypto/cipher", "/crypto/cipherparams/iv", "/crypto/ciphertext",
                    "/crypto/kdf", "/crypto/kdfparams/dklen", "/crypto/kdfparams/n",
                    "/crypto/kdfparams/r", "/crypto/kdfparams/p", "/crypto/kdfparams/salt",
                    "/crypto/mac", "/x-want-key-type",
                ]),
                value in prop_oneof![
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<u64>().prop_map(serde_json::Value::from),
                    any::<f64>().prop_map(serde_json::Value::from),
                    "\\PC{0,40}".prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!({"a": [1, {"b": null}]})),
                    Just(serde_json::Value::from(u64::MAX)),
                    Just(serde_json::Value::from("rsa")),
                ],
            ) {
                let mut doc: serde_json::Value = serde_json::from_str(&light().0).unwrap();
                let (parent, key) = path.rsplit_once('/').unwrap();
                let slot = if parent.is_empty() { Some(&mut doc) } else { doc.pointer_mut(parent) };
                slot.unwrap().as_object_mut().unwrap().insert(key.to_string(), value);
                if let Err(e) = decrypt_keystore(&doc.to_string(), b"pw") {
                    prop_assert!(refusal(&e), "{}", e);
                }
            }
        }

        fn iv_of(json: &str) -> String {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            v["crypto"]["cipherparams"]["iv"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }
}

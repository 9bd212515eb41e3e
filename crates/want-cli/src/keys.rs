//! `want key …`: create and import account keys into Web3 Secret Storage v3 keystores.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use want_crypto::{KdfStrength, KeyMaterial, PrivateKey, RsaPrivateKey, SigningKey};

use crate::output::{CliError, Out};
use crate::read_password;

/// Largest private key file read, in bytes.
const PRIVATE_KEY_FILE_BYTES_MAX: u64 = 1024;

#[derive(Clone, Copy, ValueEnum)]
pub enum KeyType {
    Secp256k1,
    Rsa,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kdf {
    /// scrypt n = 2^18 (as geth and TRON wallets).
    Standard,
    /// scrypt n = 2^12: fast and weak, for tests only.
    Light,
}

impl From<Kdf> for KdfStrength {
    fn from(k: Kdf) -> Self {
        match k {
            Kdf::Standard => KdfStrength::Standard,
            Kdf::Light => KdfStrength::Light,
        }
    }
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a new key and store it encrypted in a keystore file.
    New {
        #[arg(long)]
        keystore_dir: PathBuf,
        #[arg(long)]
        password_file: PathBuf,
        /// secp256k1 (default; TRON-compatible) or rsa (enterprise PKI, §4.8.1).
        #[arg(long = "type", value_enum, default_value = "secp256k1")]
        key_type: KeyType,
        /// RSA modulus size, 2048–4096.
        #[arg(long, default_value_t = 2048)]
        rsa_bits: usize,
        #[arg(long, value_enum, default_value = "standard")]
        kdf: Kdf,
    },
    /// Import an existing key: a raw hex private key or another wallet's v3 keystore file.
    Import {
        /// File holding the private key as 64 hex digits (as TRON wallets export it).
        #[arg(
            long,
            conflicts_with = "keystore_file",
            required_unless_present = "keystore_file"
        )]
        private_key_file: Option<PathBuf>,
        /// A Web3 Secret Storage v3 keystore (scrypt or pbkdf2) written by another wallet.
        #[arg(long)]
        keystore_file: Option<PathBuf>,
        #[arg(long)]
        keystore_dir: PathBuf,
        /// Password of the new keystore (and of --keystore-file, unless --source-password-file).
        #[arg(long)]
        password_file: PathBuf,
        /// Password of --keystore-file when it differs from --password-file.
        #[arg(long)]
        source_password_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "standard")]
        kdf: Kdf,
    },
    /// Show the address of a keystore (unlocks it).
    Show {
        #[arg(long)]
        keystore: PathBuf,
        #[arg(long)]
        password_file: PathBuf,
    },
}

pub fn run(cmd: KeyCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::New {
            keystore_dir,
            password_file,
            key_type,
            rsa_bits,
            kdf,
        } => {
            let password = read_password(&password_file)?;
            let key: KeyMaterial = match key_type {
                KeyType::Secp256k1 => SigningKey::Secp256k1(PrivateKey::generate()),
                KeyType::Rsa => SigningKey::Rsa(RsaPrivateKey::generate(rsa_bits)?),
            };
            store(&key, &keystore_dir, &password, kdf, out)
        }
        KeyCommand::Import {
            private_key_file,
            keystore_file,
            keystore_dir,
            password_file,
            source_password_file,
            kdf,
        } => {
            let password = read_password(&password_file)?;
            let key: KeyMaterial = if let Some(path) = private_key_file {
                SigningKey::Secp256k1(read_private_key_file(&path)?)
            } else if let Some(path) = keystore_file {
                let source_password = match source_password_file {
                    Some(p) => read_password(&p)?,
                    None => password.clone(),
                };
                want_crypto::read_keystore_file(&path, &source_password)?
            } else {
                return Err(CliError::new(
                    "missing_argument",
                    "pass --private-key-file or --keystore-file",
                )
                .into());
            };
            store(&key, &keystore_dir, &password, kdf, out)
        }
        KeyCommand::Show {
            keystore,
            password_file,
        } => {
            let password = read_password(&password_file)?;
            let key = want_crypto::read_keystore_file(&keystore, &password)?;
            let mut v = json!({"address": key.address(), "keystore": keystore, "type": key_type_name(&key)});
            if let SigningKey::Secp256k1(k) = &key {
                v["public_key"] = json!(k.public_key_compressed_hex());
            }
            out.value(&v, |v| {
                let mut s = format!("address     {}", v["address"].as_str().unwrap_or_default());
                if let Some(pk) = v["public_key"].as_str() {
                    s.push_str(&format!("\npublic key  {pk}"));
                }
                s
            });
            Ok(())
        }
    }
}

/// Reads a raw secp256k1 private key file: 64 hex digits (an optional `0x` and surrounding
/// whitespace allowed), as TRON wallets export it and `want dev` writes `dev-key.hex`. Shared by
/// `want key import --private-key-file` and the signer's `--key-file`.
pub fn read_private_key_file(path: &std::path::Path) -> anyhow::Result<PrivateKey> {
    let text = crate::read_text_file(path, PRIVATE_KEY_FILE_BYTES_MAX)?;
    PrivateKey::from_hex(text.trim()).map_err(|e| {
        CliError::new(
            crate::output::crypto_code(&e),
            format!(
                "{}: {e}; the file must hold a secp256k1 private key as 64 hex digits",
                path.display()
            ),
        )
        .into()
    })
}

fn key_type_name(key: &KeyMaterial) -> &'static str {
    match key {
        SigningKey::Secp256k1(_) => "secp256k1",
        SigningKey::Rsa(_) => "rsa",
    }
}

fn store(
    key: &KeyMaterial,
    dir: &std::path::Path,
    password: &[u8],
    kdf: Kdf,
    out: &Out,
) -> anyhow::Result<()> {
    let path = want_crypto::write_keystore_file(dir, key, password, kdf.into())?;
    let mut v = json!({"address": key.address(), "keystore": path, "type": key_type_name(key)});
    if let SigningKey::Secp256k1(k) = key {
        v["public_key"] = json!(k.public_key_compressed_hex());
    }
    out.value(&v, |v| {
        format!(
            "address   {}\nkeystore  {}\nKeep the keystore and its password safe: together they are the account.",
            v["address"].as_str().unwrap_or_default(),
            v["keystore"].as_str().unwrap_or_default()
        )
    });
    Ok(())
}

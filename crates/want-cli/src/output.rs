//! Output for people and for scripts (`--json`: exactly one JSON object), and CLI errors with stable codes.

use serde_json::{json, Value};

/// Code of a failure whose details were already printed as the command's one result.
pub const ALREADY_REPORTED: &str = "";

/// A failure with a stable machine-readable code.
#[derive(Debug)]
pub struct CliError {
    pub code: String,
    pub message: String,
    /// JSON path of the problem in an input document, when there is one.
    pub path: Option<String>,
}

impl CliError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError {
            code: code.into(),
            message: message.into(),
            path: None,
        }
    }

    /// The same error, naming where in the input document it is.
    pub fn at(mut self, path: impl Into<String>) -> CliError {
        self.path = Some(path.into());
        self
    }

    pub fn from_anyhow(e: anyhow::Error) -> CliError {
        match e.downcast::<CliError>() {
            Ok(c) => c,
            Err(e) => match e.downcast::<want_crypto::CryptoError>() {
                Ok(c) => CliError::new(crypto_code(&c), c.to_string()),
                Err(e) => CliError::new("error", format!("{e:#}")),
            },
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for CliError {}

/// An address given on the command line; `what` names the argument in the error
/// (`invalid_address`).
pub fn parse_address(s: &str, what: &str) -> anyhow::Result<want_types::Address> {
    s.parse()
        .map_err(|e| CliError::new("invalid_address", format!("{what}: {e}")).into())
}

/// Stable codes for key and signature errors.
pub fn crypto_code(e: &want_crypto::CryptoError) -> &'static str {
    use want_crypto::CryptoError as E;
    match e {
        E::WrongPassword { .. } => "wrong_password",
        E::InvalidPrivateKey { .. } => "invalid_private_key",
        E::RsaKeySize { .. } => "invalid_rsa_key_size",
        E::BadSignature { .. } => "bad_signature",
        E::CorruptKeystore { .. } => "corrupt_keystore",
        E::KeystoreIo { .. } => "keystore_unreadable",
        E::CertificateInvalid { .. } => "certificate_invalid",
        _ => "crypto_error",
    }
}

/// Where results go.
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints a result: the JSON object with `--json`, else the human rendering.
    pub fn value(&self, v: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!("{v}");
        } else {
            println!("{}", human(v));
        }
    }

    pub fn error(&self, e: &CliError) {
        if self.json {
            let mut v = json!({"error": {"code": e.code, "message": e.message}});
            if let Some(p) = &e.path {
                v["error"]["path"] = json!(p);
            }
            println!("{v}");
        } else {
            eprintln!("error: {}", e.message);
            if let Some(p) = &e.path {
                eprintln!("       at {p}");
            }
            eprintln!("       (code: {})", e.code);
        }
    }
}

//! Ed25519 key files: the signing key `token` uses (created on first use in development) and
//! the public keys `serve` trusts, found by key id.

use super::AuthError;
use crate::config::AuthSettings;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use std::path::{Path, PathBuf};

/// Why a key could not be had; `token` and `serve` print it as one line.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cannot read the signing key {path}: {reason} (set AUTH_SIGNING_KEY to an Ed25519 PKCS#8 PEM file)"
    )]
    Read { path: PathBuf, reason: String },
    #[error(
        "cannot create the development signing key {path}: {reason} (set AUTH_SIGNING_KEY to a writable path)"
    )]
    Create { path: PathBuf, reason: String },
}

/// The key `token` signs with, and its id.
pub struct Signer {
    pub kid: String,
    pub key: EncodingKey,
    /// The public half, as jsonwebtoken wants it for verification.
    pub public: DecodingKey,
}

/// Loads the signing key. In development (no public key directory) a missing key is created.
pub fn signer(settings: &AuthSettings) -> Result<Signer, KeyError> {
    let path = &settings.signing_key;
    let key = match std::fs::read_to_string(path) {
        Ok(pem) => SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound && settings.public_keys_dir.is_none() =>
        {
            create(path)?
        }
        Err(e) => {
            return Err(KeyError::Read {
                path: path.clone(),
                reason: e.to_string(),
            });
        }
    };
    let bad = |reason: String| KeyError::Read {
        path: path.clone(),
        reason,
    };
    let private_der = key.to_pkcs8_der().map_err(|e| bad(e.to_string()))?;
    Ok(Signer {
        kid: format!("{}/{}", settings.issuer, settings.key_name),
        key: EncodingKey::from_ed_der(private_der.as_bytes()),
        public: DecodingKey::from_ed_der(key.verifying_key().as_bytes()),
    })
}

/// Creates a new key pair at `path`, or reads the one another process created meanwhile.
fn create(path: &Path) -> Result<SigningKey, KeyError> {
    let fail = |reason: String| KeyError::Create {
        path: path.to_owned(),
        reason,
    };
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| fail(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| fail(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    // Written aside and linked into place, so a concurrent reader never sees half a key and
    // a concurrent creator loses cleanly to whoever linked first.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write_private(&tmp, pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            let public = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| fail(e.to_string()))?;
            std::fs::write(path.with_extension("pub.pem"), public)
                .map_err(|e| fail(e.to_string()))?;
            tracing::info!(path = %path.display(), "Created a development signing key.");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            SigningKey::from_pkcs8_pem(&pem).map_err(|e| fail(e.to_string()))
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Reads the public key of `kid` from the trusted directory: `<dir>/<kid>.pem`.
pub fn public_key(dir: &Path, kid: &str) -> Result<DecodingKey, AuthError> {
    let path = dir.join(format!("{kid}.pem"));
    let pem = std::fs::read(&path)
        .map_err(|_| AuthError::invalid(format!("no trusted public key for key id `{kid}`")))?;
    DecodingKey::from_ed_pem(&pem).map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "A trusted public key does not read as Ed25519 PEM.");
        AuthError::invalid(format!("the public key for key id `{kid}` is unusable"))
    })
}

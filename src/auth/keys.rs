//! Key files: the Ed25519 signing key `token` uses (created on first use in development) and
//! the public keys `serve` trusts, Ed25519 or RSA, found by key id.

use super::{AuthError, KeyId};
use crate::config::AuthSettings;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
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
    #[error(
        "AUTH_PUBLIC_KEYS_DIR is not set and AUTH_DEV_KEY=false: set AUTH_PUBLIC_KEYS_DIR to the directory of trusted public keys (`<issuer>/<key name>.pem`), or AUTH_DEV_KEY=true to trust the development key (never in production)"
    )]
    DevKeyRefused,
}

/// A public key `serve` trusts, and the one algorithm tokens signed with it must name.
#[derive(Clone)]
pub struct TrustedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

impl TrustedKey {
    /// The key's family, in words.
    pub fn family(&self) -> &'static str {
        match self.algorithm {
            Algorithm::RS256 => "RSA",
            _ => "Ed25519",
        }
    }
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

/// Reads the public key of `kid` from the trusted directory: `<dir>/<kid>.pem`, an Ed25519
/// key (tokens signed with EdDSA) or an RSA key (RS256). Read on every check that is not
/// answered from the token cache, so a removed or replaced file takes effect then.
pub fn public_key(dir: &Path, kid: &KeyId) -> Result<TrustedKey, AuthError> {
    let path = dir.join(format!("{kid}.pem"));
    let pem = std::fs::read(&path)
        .map_err(|_| AuthError::invalid(format!("no trusted public key for key id `{kid}`")))?;
    if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
        return Ok(TrustedKey {
            key,
            algorithm: Algorithm::EdDSA,
        });
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok(TrustedKey {
            key,
            algorithm: Algorithm::RS256,
        });
    }
    tracing::error!(path = %path.display(), "A trusted public key is neither an Ed25519 nor an RSA public key in PEM.");
    Err(AuthError::invalid(format!(
        "the public key for key id `{kid}` is unusable; its operator has been told"
    )))
}

//! Short-lived signed tokens for service-to-service calls: photonauth signs
//! who the bearer is and which service it may call until when; the
//! receiver checks the signature with photonauth's public key, fetched
//! once, without asking photonauth again (offline).
//!
//! A token is `base64url(claims JSON) "." base64url(Ed25519 signature of
//! the first part)`: small, and readable with any base64 decoder.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The longest a token may live: a stolen one is worth little.
pub const MAX_TTL_SECONDS: u32 = 3600;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Who bears it (a service, or `tenant/user`).
    pub sub: String,
    /// The service it may be shown to.
    pub aud: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Good until, in seconds since the Unix epoch.
    pub exp: i64,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `claims.signature`, or a part does not decode.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// The signature is not photonauth's over these claims.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Past its `exp`.
    #[error("the token expired at {0}")]
    Expired(i64),
    /// Made for another service.
    #[error("the token is for `{0}`, not for this service")]
    WrongAudience(String),
}

/// A signing key: photonauth's, shared by its replicas.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// The key material could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("the token signing key: {0}")]
pub struct KeyError(String);

impl Signer {
    /// A new key, as PKCS#8 bytes to keep.
    pub fn generate() -> Result<Vec<u8>, KeyError> {
        let random = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&random)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|e| KeyError(e.to_string()))
    }

    /// The key kept as `pkcs8`.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Signer, KeyError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|pair| Signer { pair })
            .map_err(|e| KeyError(e.to_string()))
    }

    /// The public key receivers verify with (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A token saying `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(body.as_bytes()));
        format!("{body}.{signature}")
    }
}

/// Seconds since the Unix epoch: the clock tokens are issued and checked
/// by.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The claims of `token` if `public_key` signed it, it is for `audience`
/// and it has not expired at `now` (seconds since the Unix epoch).
pub fn verify(
    public_key: &[u8],
    token: &str,
    audience: &str,
    now: i64,
) -> Result<Claims, TokenError> {
    let (body, signature) = token
        .split_once('.')
        .ok_or(TokenError::Malformed("no `.` between claims and signature"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(body.as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(TokenError::Malformed("the claims are not base64url JSON"))?;
    if claims.aud != audience {
        return Err(TokenError::WrongAudience(claims.aud));
    }
    if now >= claims.exp {
        return Err(TokenError::Expired(claims.exp));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "lightningstor".into(),
            aud: "photonnet".into(),
            iat: 1000,
            exp,
        }
    }

    #[test]
    fn a_token_verifies_offline_until_it_expires_and_only_for_its_audience() {
        let signer = Signer::from_pkcs8(&Signer::generate().unwrap()).unwrap();
        let key = signer.public_key();
        assert_eq!(key.len(), 32);
        let token = signer.sign(&claims(2000));
        assert_eq!(verify(&key, &token, "photonnet", 1500), Ok(claims(2000)));
        assert_eq!(
            verify(&key, &token, "photonnet", 2000),
            Err(TokenError::Expired(2000))
        );
        assert_eq!(
            verify(&key, &token, "flashdns", 1500),
            Err(TokenError::WrongAudience("photonnet".into()))
        );
    }

    #[test]
    fn a_forged_or_altered_token_is_refused() {
        let signer = Signer::from_pkcs8(&Signer::generate().unwrap()).unwrap();
        let other = Signer::from_pkcs8(&Signer::generate().unwrap()).unwrap();
        let token = signer.sign(&claims(2000));
        // Signed by another key.
        assert_eq!(
            verify(
                &signer.public_key(),
                &other.sign(&claims(2000)),
                "photonnet",
                1500
            ),
            Err(TokenError::BadSignature)
        );
        // Claims swapped for longer-lived ones, signature kept.
        let (_, signature) = token.split_once('.').unwrap();
        let longer = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(9_999_999)).unwrap());
        assert_eq!(
            verify(
                &signer.public_key(),
                &format!("{longer}.{signature}"),
                "photonnet",
                1500
            ),
            Err(TokenError::BadSignature)
        );
        assert!(matches!(
            verify(&signer.public_key(), "no-dot", "photonnet", 1500),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            verify(&signer.public_key(), "a.!!!", "photonnet", 1500),
            Err(TokenError::Malformed(_))
        ));
    }
}

//! Proof of holding an access key, for a token: the holder signs who it
//! is, which service the token is for, for how long and when, with the
//! key's secret (HMAC-SHA256), so the secret itself never crosses the
//! wire; photonauth, which holds the secret, checks the signature and the
//! time and signs a token (`tenant/user`) the service verifies offline.

use ring::hmac;

use crate::api::proto::KeyTokenRequest;

/// How far a request's timestamp may be from photonauth's clock: a
/// captured request is worth a token only this long.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// What is signed: every field of the request but the signature, each on
/// its own line, after a fixed label so no other signed string is one.
pub fn string_to_sign(
    access_key_id: &str,
    audience: &str,
    ttl_seconds: u32,
    timestamp: i64,
) -> String {
    format!("photonauth-key-token\n{access_key_id}\n{audience}\n{ttl_seconds}\n{timestamp}")
}

fn tag(secret: &str, text: &str) -> hmac::Tag {
    hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        text.as_bytes(),
    )
}

/// The request for a token for `audience`, good `ttl_seconds`, signed
/// with the key's secret at `now` (seconds since the Unix epoch).
pub fn request(
    access_key_id: &str,
    secret: &str,
    audience: &str,
    ttl_seconds: u32,
    now: i64,
) -> KeyTokenRequest {
    let text = string_to_sign(access_key_id, audience, ttl_seconds, now);
    KeyTokenRequest {
        access_key_id: access_key_id.to_owned(),
        audience: audience.to_owned(),
        ttl_seconds,
        timestamp: now,
        signature: hex::encode(tag(secret, &text).as_ref()),
    }
}

/// Whether `request` is signed with `secret` (compared in constant time).
pub fn signed_with(request: &KeyTokenRequest, secret: &str) -> bool {
    let Ok(signature) = hex::decode(&request.signature) else {
        return false;
    };
    let text = string_to_sign(
        &request.access_key_id,
        &request.audience,
        request.ttl_seconds,
        request.timestamp,
    );
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        text.as_bytes(),
        &signature,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_verifies_with_its_secret_only_and_unchanged() {
        let signed = request("PKEXAMPLE", "secret-1", "photonnet", 900, 1_700_000_000);
        assert!(signed_with(&signed, "secret-1"));
        assert!(!signed_with(&signed, "secret-2"));
        for changed in [
            KeyTokenRequest {
                audience: "lightningstor".into(),
                ..signed.clone()
            },
            KeyTokenRequest {
                ttl_seconds: 3600,
                ..signed.clone()
            },
            KeyTokenRequest {
                timestamp: 1_700_000_001,
                ..signed.clone()
            },
            KeyTokenRequest {
                access_key_id: "PKOTHER".into(),
                ..signed.clone()
            },
            KeyTokenRequest {
                signature: "zz".into(),
                ..signed.clone()
            },
        ] {
            assert!(!signed_with(&changed, "secret-1"), "{changed:?}");
        }
    }
}

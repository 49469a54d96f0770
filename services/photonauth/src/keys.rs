//! The access-key format every PhotonCloud component issues: an id of 20
//! upper-case characters (a two-letter kind, then 72 random bits in hex,
//! like AWS's `AKIA...`) and a 40-character secret (240 random bits,
//! base64). lightningstor's local keys and photonauth's keys share it (the
//! design's pitfall table: one key format, so keys migrate unchanged).

use base64::Engine as _;

/// The operating system gave no randomness.
#[derive(Debug, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct NoRandomness(getrandom::Error);

fn random<const N: usize>() -> Result<[u8; N], NoRandomness> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(bytes)
}

/// A new key id of kind `kind` (two letters: `LK` a lightningstor key, `LT`
/// a lightningstor session, `PK` a photonauth key).
pub fn new_id(kind: &str) -> Result<String, NoRandomness> {
    debug_assert_eq!(kind.len(), 2, "a kind is two letters");
    Ok(format!("{kind}{}", hex::encode_upper(random::<9>()?)))
}

/// A new secret key.
pub fn new_secret() -> Result<String, NoRandomness> {
    Ok(base64::engine::general_purpose::STANDARD.encode(random::<30>()?))
}

/// Random bytes, base64: a session token of `n` bytes.
pub fn new_token<const N: usize>() -> Result<String, NoRandomness> {
    Ok(base64::engine::general_purpose::STANDARD.encode(random::<N>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_have_the_aws_shape_and_differ() {
        let (a, b) = (new_id("PK").unwrap(), new_id("PK").unwrap());
        assert!(a.starts_with("PK") && a.len() == 20, "{a}");
        assert!(
            a[2..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(a, b);
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 40);
        assert_ne!(secret, new_secret().unwrap());
    }
}

//! Secrets at rest: what the store holds that would let a reader act as
//! someone (today: every access key's secret) is sealed with AES-256-GCM
//! (aws-lc-rs, the crypto provider the rest of ferry already uses) under a
//! [`SecretsKey`] that is kept *outside* the database, so a copied database
//! or a backup of it alone gives nothing away.
//!
//! A sealed value is `sealed:v1:<hex of nonce ‖ ciphertext ‖ tag>`; the
//! nonce is random (96 bits) and the associated data names the row the
//! value belongs to, so a sealed secret moved to another row no longer opens.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ferry_sigv4::hex;

use crate::error::{Result, StoreError};

const PREFIX: &str = "sealed:v1:";

/// The key secrets are sealed with: 32 random bytes, written as 64 hex digits.
pub struct SecretsKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl SecretsKey {
    /// How many bytes a key has.
    pub const LEN: usize = 32;

    /// A new random key and its text form (what the key file holds).
    pub fn generate() -> Result<(SecretsKey, String)> {
        let mut bytes = [0u8; Self::LEN];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| StoreError::Backend("the operating system's random generator failed".into()))?;
        let text = hex(&bytes);
        Ok((Self::from_bytes(&bytes), text))
    }

    /// Reads a key's text form: 64 hex digits (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<SecretsKey, String> {
        let text = text.trim();
        let bytes = unhex(text).filter(|b| b.len() == Self::LEN).ok_or_else(|| {
            format!("a secrets key is {} hex digits; this holds {} characters", Self::LEN * 2, text.len())
        })?;
        let mut key = [0u8; Self::LEN];
        key.copy_from_slice(&bytes);
        Ok(Self::from_bytes(&key))
    }

    fn from_bytes(bytes: &[u8; Self::LEN]) -> SecretsKey {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key");
        SecretsKey { key: LessSafeKey::new(unbound) }
    }

    /// Seals `plaintext` for the row named by `context`.
    pub(crate) fn seal(&self, plaintext: &str, context: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| StoreError::Backend("the operating system's random generator failed".into()))?;
        let mut in_out = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| StoreError::Backend(format!("cannot seal the secret of {context}")))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", hex(&sealed)))
    }

    /// Opens what [`SecretsKey::seal`] sealed for the same `context`.
    pub(crate) fn open(&self, sealed: &str, context: &str) -> Result<String> {
        let wrong = || {
            StoreError::Backend(format!(
                "the secret of {context} does not open with this secrets key: the database was sealed with \
                 another key, or the row was tampered with"
            ))
        };
        let bytes = sealed.strip_prefix(PREFIX).and_then(unhex).filter(|b| b.len() >= NONCE_LEN).ok_or_else(wrong)?;
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut in_out = rest.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out).map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

/// Whether a stored value is sealed (else it is plaintext from before sealing).
pub(crate) fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let (key, text) = SecretsKey::generate().unwrap();
        assert_eq!(text.len(), 64);
        let sealed = key.seal("wJalrXUtnFEMI/K7MDENG", "access key A").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("wJalr"), "{sealed}");
        assert_eq!(key.open(&sealed, "access key A").unwrap(), "wJalrXUtnFEMI/K7MDENG");
        assert_ne!(key.seal("same", "x").unwrap(), key.seal("same", "x").unwrap(), "a fresh nonce each time");
        let err = key.open(&sealed, "access key B").unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");
        let again = SecretsKey::parse(&format!(" {text}\n")).unwrap();
        assert_eq!(again.open(&sealed, "access key A").unwrap(), "wJalrXUtnFEMI/K7MDENG");
        let (other, _) = SecretsKey::generate().unwrap();
        assert!(other.open(&sealed, "access key A").is_err());
        assert!(SecretsKey::parse("abc").unwrap_err().contains("64 hex digits"));
        assert!(key.open("sealed:v1:zz", "access key A").is_err());
    }
}

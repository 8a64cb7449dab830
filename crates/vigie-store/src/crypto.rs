//! Patient phone numbers at rest: AES-256-GCM with a random 96-bit nonce per value.
//!
//! Sealed form: one version byte (the key generation, for rotation), the nonce, then
//! the ciphertext and its tag.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;

const VERSION: u8 = 1;

/// The data key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct DataKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The key is malformed, or a sealed value does not open with it.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key text is not 64 hexadecimal digits.
    #[error("the data key must be 64 hexadecimal digits (32 bytes)")]
    BadKey,
    /// A sealed value was damaged or sealed with another key.
    #[error("a sealed value does not open with this data key")]
    Open,
}

impl DataKey {
    /// Reads a key written as 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<DataKey, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Ok(DataKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)) })
    }

    /// A fresh random key, with its hexadecimal form to keep.
    pub fn generate() -> (DataKey, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let text = hex::encode(bytes);
        (DataKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)) }, text)
    }

    /// Encrypts a value.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(1 + 12 + plain.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        match self.cipher.encrypt(Nonce::from_slice(&nonce), plain) {
            Ok(ct) => out.extend_from_slice(&ct),
            Err(_) => unreachable!("AES-GCM encryption of a short value cannot fail"),
        }
        out
    }

    /// Decrypts a value sealed with this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Open);
        }
        self.cipher.decrypt(Nonce::from_slice(&sealed[1..13]), &sealed[13..]).map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let (key, text) = DataKey::generate();
        let sealed = key.seal(b"+33612345678");
        assert!(!sealed.windows(12).any(|w| w == b"+33612345678"));
        assert_eq!(key.open(&sealed).expect("opens"), b"+33612345678");
        let other = DataKey::from_hex(&"11".repeat(32)).expect("key");
        assert!(other.open(&sealed).is_err());
        assert!(DataKey::from_hex(&text).is_ok());
        assert!(DataKey::from_hex("abc").is_err());
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
    }
}

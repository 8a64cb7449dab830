//! Patient data at rest: AES-256-GCM sealing of patient phones under a ring of data
//! keys, and the keyed hash (HMAC-SHA256) that turns a dialer's patient reference into
//! a pseudonym.
//!
//! Sealed form: one byte naming the data key that sealed the value (its id, 1 to 255),
//! the random 96-bit nonce, then the ciphertext and its tag. Values sealed before key
//! rotation existed carry the byte 1, which is the id `VIGIE_DATA_KEY` keeps, so they
//! open unchanged. An empty value is an erased phone (Article 17).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The id of the key given as `VIGIE_DATA_KEY`, and of every value sealed before
/// rotation existed.
pub const FIRST_KEY_ID: u8 = 1;

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
    /// A sealed value names a key id the ring does not hold.
    #[error("a sealed value was sealed with data key {0}, which is not configured")]
    UnknownKey(u8),
    /// The value was erased (Article 17): there is nothing to open.
    #[error("the value was erased")]
    Erased,
    /// The key ring's configuration is wrong.
    #[error("data keys: {0}")]
    BadRing(String),
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn key_bytes(text: &str) -> Result<[u8; 32], CryptoError> {
    hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or(CryptoError::BadKey)
}

impl DataKey {
    /// Reads a key written as 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<DataKey, CryptoError> {
        let bytes = key_bytes(text)?;
        Ok(DataKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)) })
    }

    /// A fresh random key, with its hexadecimal form to keep.
    pub fn generate() -> (DataKey, String) {
        let bytes = random_bytes();
        (DataKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)) }, hex::encode(bytes))
    }

    /// Encrypts a value, marking it with `id`.
    fn seal_as(&self, id: u8, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(1 + 12 + plain.len() + 16);
        out.push(id);
        out.extend_from_slice(&nonce);
        match self.cipher.encrypt(Nonce::from_slice(&nonce), plain) {
            Ok(ct) => out.extend_from_slice(&ct),
            Err(_) => unreachable!("AES-GCM encryption of a short value cannot fail"),
        }
        out
    }

    /// Decrypts a sealed value, whatever id it is marked with.
    fn open_any(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + 12 + 16 {
            return Err(CryptoError::Open);
        }
        self.cipher.decrypt(Nonce::from_slice(&sealed[1..13]), &sealed[13..]).map_err(|_| CryptoError::Open)
    }
}

/// The data keys by id: values are sealed with the active one and opened with the one
/// their first byte names, so that a key can be rotated while servers run. Its `Debug`
/// shows the ids only.
#[derive(Clone)]
pub struct KeyRing {
    active: u8,
    keys: BTreeMap<u8, DataKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("active", &self.active).field("ids", &self.ids()).finish()
    }
}

impl From<DataKey> for KeyRing {
    /// A ring of one key, id 1: `VIGIE_DATA_KEY` alone.
    fn from(key: DataKey) -> KeyRing {
        KeyRing { active: FIRST_KEY_ID, keys: BTreeMap::from([(FIRST_KEY_ID, key)]) }
    }
}

impl KeyRing {
    /// A ring of `keys`, sealing with `active`, which must be among them. Ids run from
    /// 1 to 255; an id given twice is refused.
    pub fn new(active: u8, keys: impl IntoIterator<Item = (u8, DataKey)>) -> Result<KeyRing, CryptoError> {
        let mut map = BTreeMap::new();
        for (id, key) in keys {
            if id == 0 {
                return Err(CryptoError::BadRing("key ids run from 1 to 255".into()));
            }
            if map.insert(id, key).is_some() {
                return Err(CryptoError::BadRing(format!("key id {id} is given twice")));
            }
        }
        if !map.contains_key(&active) {
            return Err(CryptoError::BadRing(format!("the active key id {active} is not among the keys")));
        }
        Ok(KeyRing { active, keys: map })
    }

    /// Reads `ID:HEX,ID:HEX…` (spaces allowed around the items).
    pub fn parse_list(text: &str) -> Result<Vec<(u8, DataKey)>, CryptoError> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (id, hex) = item
                    .split_once(':')
                    .ok_or_else(|| CryptoError::BadRing("each item must be ID:HEX, such as 2:…".into()))?;
                let id = id.trim().parse::<u8>().map_err(|_| {
                    CryptoError::BadRing(format!("key id {:?} is not a number from 1 to 255", id.trim()))
                })?;
                let key = DataKey::from_hex(hex)
                    .map_err(|_| CryptoError::BadRing(format!("key {id} must be 64 hexadecimal digits (32 bytes)")))?;
                Ok((id, key))
            })
            .collect()
    }

    /// The id new values are sealed with.
    pub fn active_id(&self) -> u8 {
        self.active
    }

    /// The ids of the keys held.
    pub fn ids(&self) -> Vec<u8> {
        self.keys.keys().copied().collect()
    }

    /// The id of the key a sealed value names (`None` for an erased value).
    pub fn key_id(sealed: &[u8]) -> Option<u8> {
        sealed.first().copied()
    }

    /// Encrypts a value with the active key.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        match self.keys.get(&self.active) {
            Some(key) => key.seal_as(self.active, plain),
            None => unreachable!("KeyRing::new checks that the active key is held"),
        }
    }

    /// Decrypts a value with the key its first byte names.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let id = KeyRing::key_id(sealed).ok_or(CryptoError::Erased)?;
        self.keys.get(&id).ok_or(CryptoError::UnknownKey(id))?.open_any(sealed)
    }
}

/// The key of the keyed hash that turns a dialer's patient reference into the
/// pseudonym Vigie stores. Deterministic, so that the same patient keeps the same
/// pseudonym (affinity, idempotency); without the key, a pseudonym cannot be linked
/// back to a reference even by trying every plausible one. Its `Debug` never shows it.
#[derive(Clone)]
pub struct PseudonymKey {
    key: [u8; 32],
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// What every pseudonym starts with (its scheme and version).
pub const PSEUDONYM_PREFIX: &str = "ps1:";

impl PseudonymKey {
    /// Reads a key written as 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<PseudonymKey, CryptoError> {
        Ok(PseudonymKey { key: key_bytes(text)? })
    }

    /// A fresh random key, with its hexadecimal form to keep.
    pub fn generate() -> (PseudonymKey, String) {
        let key = random_bytes();
        (PseudonymKey { key }, hex::encode(key))
    }

    fn mac(&self, domain: &str, text: &str) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The pseudonym of a patient reference: `ps1:` and 64 hex digits.
    pub fn pseudonym(&self, patient_ref: &str) -> String {
        format!("{PSEUDONYM_PREFIX}{}", self.mac("vigie patient_ref", patient_ref))
    }

    /// The keyed hash of a telephone number in E.164 form, as the Bloctel opposition
    /// list is stored: the list never holds a number in clear.
    pub(crate) fn phone_hash(&self, e164: &str) -> String {
        self.mac("vigie bloctel e164", e164)
    }

    /// The keyed hash of a patient's number in E.164 form, as SMS opt-outs are stored.
    pub(crate) fn optout_hash(&self, e164: &str) -> String {
        self.mac("vigie sms optout e164", e164)
    }

    /// A fingerprint of the key, stored in the database so that a server started with
    /// another key is refused instead of silently breaking affinity and idempotency.
    pub(crate) fn fingerprint(&self) -> String {
        self.mac("vigie pseudonym key fingerprint", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let (key, text) = DataKey::generate();
        let ring = KeyRing::from(key);
        let sealed = ring.seal(b"+33612345678");
        assert_eq!(sealed[0], FIRST_KEY_ID);
        assert!(!sealed.windows(12).any(|w| w == b"+33612345678"));
        assert_eq!(ring.open(&sealed).expect("opens"), b"+33612345678");
        let other = KeyRing::from(DataKey::from_hex(&"11".repeat(32)).expect("key"));
        assert!(matches!(other.open(&sealed), Err(CryptoError::Open)));
        assert!(DataKey::from_hex(&text).is_ok());
        assert!(DataKey::from_hex("abc").is_err());
        assert_eq!(format!("{:?}", DataKey::generate().0), "DataKey(<redacted>)");
        assert!(matches!(ring.open(&[]), Err(CryptoError::Erased)));
    }

    #[test]
    fn a_ring_seals_with_its_active_key_and_opens_with_any_it_holds() {
        let (k1, h1) = DataKey::generate();
        let (k2, h2) = DataKey::generate();
        let old = KeyRing::from(k1.clone());
        let sealed_by_1 = old.seal(b"+33472000001");
        let list = KeyRing::parse_list(&format!(" 1:{h1} , 2:{h2} ")).expect("a list");
        let both = KeyRing::new(2, list).expect("a ring");
        let sealed_by_2 = both.seal(b"+33472000002");
        assert_eq!(KeyRing::key_id(&sealed_by_2), Some(2));
        assert_eq!(both.open(&sealed_by_1).expect("key 1 opens"), b"+33472000001");
        assert_eq!(both.open(&sealed_by_2).expect("key 2 opens"), b"+33472000002");
        let only_2 = KeyRing::new(2, [(2, k2)]).expect("a ring");
        assert!(matches!(only_2.open(&sealed_by_1), Err(CryptoError::UnknownKey(1))));
        assert!(matches!(old.open(&sealed_by_2), Err(CryptoError::UnknownKey(2))));
        assert_eq!(format!("{both:?}"), "KeyRing { active: 2, ids: [1, 2] }");
        assert!(!format!("{both:?}").contains(&h1));
    }

    #[test]
    fn bad_rings_are_refused_with_the_reason() {
        let (k, h) = DataKey::generate();
        let bad = |r: Result<KeyRing, CryptoError>| r.expect_err("refused").to_string();
        assert!(bad(KeyRing::new(2, [(1, k.clone())])).contains("active key id 2"));
        assert!(bad(KeyRing::new(1, [(1, k.clone()), (1, k.clone())])).contains("twice"));
        assert!(bad(KeyRing::new(0, [(0, k)])).contains("1 to 255"));
        for list in [format!("1{h}"), format!("x:{h}"), "1:abc".to_owned(), format!("300:{h}")] {
            assert!(KeyRing::parse_list(&list).is_err(), "{list}");
        }
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let (key, text) = PseudonymKey::generate();
        let again = PseudonymKey::from_hex(&text).expect("key");
        let p = key.pseudonym("p-7f3a9c");
        assert_eq!(p, again.pseudonym("p-7f3a9c"));
        assert!(p.starts_with(PSEUDONYM_PREFIX) && p.len() == PSEUDONYM_PREFIX.len() + 64, "{p}");
        assert_ne!(p, key.pseudonym("p-7f3a9d"));
        assert_ne!(p, PseudonymKey::generate().0.pseudonym("p-7f3a9c"));
        assert_ne!(key.fingerprint(), PseudonymKey::generate().0.fingerprint());
        assert_eq!(format!("{key:?}"), "PseudonymKey(<redacted>)");
        assert!(PseudonymKey::from_hex("abc").is_err());
    }
}

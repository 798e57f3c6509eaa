//! Key ring types and the metadata the service shows (never material).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a key ring is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum KeyType {
    /// AES-256-GCM, randomized encryption (the default).
    #[default]
    #[serde(rename = "aes256-gcm")]
    Aes256Gcm,
    /// ChaCha20-Poly1305, randomized encryption.
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
    /// AES-256-SIV, deterministic encryption for fields searched by equality.
    #[serde(rename = "aes256-siv")]
    Aes256Siv,
    /// Ed25519 signatures.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA P-256 / SHA-256 signatures.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// HMAC (SHA-256 by default, SHA-512 on request).
    #[serde(rename = "hmac")]
    Hmac,
    /// Tang server keys for network-bound disk encryption (clevis): per version one
    /// P-521 ES512 signing key and one P-521 ECMR exchange key.
    #[serde(rename = "tang-p521")]
    TangP521,
}

impl KeyType {
    /// Every type, for help texts.
    pub const ALL: [KeyType; 7] = [
        KeyType::Aes256Gcm,
        KeyType::ChaCha20Poly1305,
        KeyType::Aes256Siv,
        KeyType::Ed25519,
        KeyType::EcdsaP256,
        KeyType::Hmac,
        KeyType::TangP521,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes256Gcm => "aes256-gcm",
            KeyType::ChaCha20Poly1305 => "chacha20-poly1305",
            KeyType::Aes256Siv => "aes256-siv",
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Hmac => "hmac",
            KeyType::TangP521 => "tang-p521",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// True for types that encrypt and decrypt.
    pub fn encrypts(self) -> bool {
        matches!(
            self,
            KeyType::Aes256Gcm | KeyType::ChaCha20Poly1305 | KeyType::Aes256Siv
        )
    }

    /// True for types that sign.
    pub fn signs(self) -> bool {
        matches!(self, KeyType::Ed25519 | KeyType::EcdsaP256)
    }

    /// Algorithm id written into envelopes made with this type.
    pub(crate) fn algorithm_id(self) -> u8 {
        match self {
            KeyType::Aes256Gcm => 1,
            KeyType::ChaCha20Poly1305 => 2,
            KeyType::Aes256Siv => 3,
            KeyType::Ed25519 => 4,
            KeyType::EcdsaP256 => 5,
            KeyType::Hmac => 6,
            KeyType::TangP521 => 9,
        }
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a key ring is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Kept but refused for every operation until enabled.
    Disabled,
    /// Refused for every operation; destroyed when the waiting period ends.
    PendingDeletion,
    /// Material gone for good; only metadata remains.
    Destroyed,
}

impl KeyState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "enabled",
            KeyState::Disabled => "disabled",
            KeyState::PendingDeletion => "pending_deletion",
            KeyState::Destroyed => "destroyed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<KeyState> {
        [
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingDeletion,
            KeyState::Destroyed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One version of a key ring.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionInfo {
    /// Version number, from 1.
    pub version: u32,
    /// When it was made (RFC 3339).
    pub created: String,
    /// For signing keys: the public key, PEM (SubjectPublicKeyInfo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
}

/// A key ring's metadata. Never holds material.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyInfo {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// State.
    pub state: KeyState,
    /// Whether material may be exported (fixed at creation).
    pub exportable: bool,
    /// Newest version; encryption uses it.
    pub latest_version: u32,
    /// Oldest version that may still decrypt or verify.
    pub min_decryption_version: u32,
    /// Oldest version a caller may choose to encrypt with (0: any from
    /// `min_decryption_version`).
    pub min_encryption_version: u32,
    /// Automatic rotation period (`30d`), if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rotate_period: Option<String>,
    /// When a scheduled deletion becomes due (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// Created (RFC 3339).
    pub created: String,
    /// Last changed (RFC 3339).
    pub updated: String,
    /// Last rotated (RFC 3339).
    pub last_rotated: String,
    /// Destroyed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed: Option<String>,
    /// Versions, oldest first (not listed for destroyed keys).
    pub versions: Vec<VersionInfo>,
}

/// Parameters for a new key ring.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Name: 1-128 of `[A-Za-z0-9._-]`.
    pub name: String,
    /// Type; `aes256-gcm` when absent.
    #[serde(rename = "type", default)]
    pub key_type: KeyType,
    /// Allow export of material. Off by default and cannot be turned on later.
    #[serde(default)]
    pub exportable: bool,
    /// Rotate automatically this often (`30d`); at least `1h`.
    #[serde(default)]
    pub auto_rotate_period: Option<String>,
}

/// Changes to a key ring's configuration; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Oldest version allowed to decrypt/verify.
    pub min_decryption_version: Option<u32>,
    /// Oldest version a caller may pick for encryption (0: no extra limit).
    pub min_encryption_version: Option<u32>,
    /// Automatic rotation period, or `0` to turn it off.
    pub auto_rotate_period: Option<String>,
}

//! API keys: their kinds, how they are made, and the digest that is all we keep of them.
//!
//! A key is a kind prefix followed by a base62 body from the OS random source. Only the
//! SHA-256 digest of the whole key is stored, looked up through a unique index; the key
//! itself is shown once, when it is created.

use sha2::{Digest, Sha256};

use super::random::random_base62;
use super::token::{Token, TokenKind};

/// The three kinds of credential of the contract's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `edg_live_`: everything within its org.
    Secret,
    /// `oct_pub_live_`: register devices into its org and heartbeat them.
    Publishable,
    /// `edg_dev_`: heartbeat and retrieve its own device.
    Device,
}

impl KeyKind {
    pub const ALL: [KeyKind; 3] = [KeyKind::Secret, KeyKind::Publishable, KeyKind::Device];

    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "edg_live_",
            KeyKind::Publishable => "oct_pub_live_",
            KeyKind::Device => "edg_dev_",
        }
    }

    /// The name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
            KeyKind::Device => "device",
        }
    }

    pub fn from_db(name: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Characters of a generated key body: 32 base62 characters carry 190 bits.
const BODY_CHARS: usize = 32;
/// The shortest body accepted from an operator's preset key: 22 base62 characters carry
/// just over 128 bits.
const MIN_BODY_CHARS: usize = 22;
const MAX_BODY_CHARS: usize = 128;
/// How much of a key is kept in the clear, so an operator can tell keys apart and revoke
/// one: the kind prefix and this many characters of the body.
const DISPLAY_BODY_CHARS: usize = 6;
/// A well-formed key, parsed from what a client or an operator sent. A device's access
/// token (`edg_at_`) parses as a device key too: it works wherever the device's key works.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    kind: KeyKind,
    text: String,
    /// An `edg_at_` access token rather than a key.
    access_token: bool,
}

impl std::fmt::Debug for ApiKey {
    /// Never prints the key: only its kind and display prefix.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

impl ApiKey {
    /// A fresh key of `kind` from the OS random source.
    pub fn generate(kind: KeyKind) -> ApiKey {
        ApiKey {
            kind,
            text: format!("{}{}", kind.prefix(), random_base62(BODY_CHARS)),
            access_token: false,
        }
    }

    /// Parses a key a client sent: a known prefix followed by 22 to 128 base62 characters.
    pub fn parse(text: &str) -> Result<ApiKey, String> {
        match TokenKind::of(text) {
            Some(TokenKind::Access) => {
                let token = Token::parse(text)?;
                return Ok(ApiKey {
                    kind: KeyKind::Device,
                    text: token.expose().to_owned(),
                    access_token: true,
                });
            }
            Some(kind @ (TokenKind::Refresh | TokenKind::Bootstrap)) => {
                return Err(format!(
                    "a {} is not an API key: {}",
                    kind.name(),
                    match kind {
                        TokenKind::Refresh =>
                            "send it to POST /api/v1/device-auth/refresh and \
                                               use the access token it returns",
                        _ =>
                            "send it to POST /api/v1/device-auth/bootstrap and use the access \
                              token it returns",
                    }
                ));
            }
            None => {}
        }
        // Longest prefix first would matter if one prefix began another; none does.
        let kind = KeyKind::ALL
            .into_iter()
            .find(|k| text.starts_with(k.prefix()))
            .ok_or_else(|| {
                "the API key is malformed: it must start with edg_live_, oct_pub_live_ or \
                 edg_dev_ (or be a device access token, edg_at_)"
                    .to_owned()
            })?;
        let body = &text[kind.prefix().len()..];
        if body.len() < MIN_BODY_CHARS
            || body.len() > MAX_BODY_CHARS
            || !body.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "the API key is malformed: after {} it must have {MIN_BODY_CHARS} to \
                 {MAX_BODY_CHARS} letters and digits",
                kind.prefix()
            ));
        }
        Ok(ApiKey {
            kind,
            text: text.to_owned(),
            access_token: false,
        })
    }

    /// Whether this is a device's access token rather than a key.
    pub fn is_access_token(&self) -> bool {
        self.access_token
    }

    /// The rate limiter's bucket for this credential: the first 16 bytes of the key's
    /// digest; for an access token, of its device's, so every token of a device shares
    /// one bucket (see [`Token`]).
    pub fn bucket_tag(&self) -> [u8; 16] {
        let digest: [u8; 32] = if self.access_token {
            let device = &self.text[TokenKind::Access.prefix().len()..][..32];
            Sha256::digest(format!("device:{device}").as_bytes()).into()
        } else {
            self.digest()
        };
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&digest[..16]);
        tag
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The whole key: for the one response or console line that shows it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The SHA-256 digest, the only form in which a key is stored.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }

    /// The part of the key safe to store and show: kind prefix and a few body characters.
    pub fn display_prefix(&self) -> &str {
        if self.access_token {
            return &self.text[..TokenKind::Access.prefix().len() + DISPLAY_BODY_CHARS];
        }
        &self.text[..self.kind.prefix().len() + DISPLAY_BODY_CHARS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_kind() {
        for kind in KeyKind::ALL {
            let key = ApiKey::generate(kind);
            assert!(key.expose().starts_with(kind.prefix()));
            assert_eq!(key.expose().len(), kind.prefix().len() + BODY_CHARS);
            assert_eq!(ApiKey::parse(key.expose()).unwrap().kind(), kind);
        }
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            ApiKey::generate(KeyKind::Device).expose(),
            ApiKey::generate(KeyKind::Device).expose()
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "sk_live_abcdefghijklmnopqrstuvwxyz",
            "edg_live_short",
            "edg_live_abcdefghijklmnopqrstuvwx!z",
        ] {
            assert!(ApiKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::generate(KeyKind::Secret);
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.expose()));
        assert!(shown.contains(key.display_prefix()));
    }
}

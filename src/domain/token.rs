//! Device tokens: bootstrap tokens an org's backend hands to an app, and the short-lived
//! access tokens and rotating refresh tokens a device trades them for.
//!
//! Like keys, a token is a kind prefix and a base62 body from the OS random source, and
//! only its SHA-256 digest is stored. An access token also carries its device's UUID
//! (not a secret: it is in every path the SDKs call) between the prefix and the random
//! part, so the rate limiter can charge it to its device's bucket without a lookup, and a
//! refresh does not hand a device a fresh bucket.

use sha2::{Digest, Sha256};

use super::random::random_base62;

/// The three kinds of device token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `edg_at_`: acts as the device's key until it expires.
    Access,
    /// `edg_rt_`: traded once for a new access and refresh token.
    Refresh,
    /// `edg_bt_`: registers a device or starts its token family; minted with the secret key.
    Bootstrap,
}

impl TokenKind {
    pub const ALL: [TokenKind; 3] = [TokenKind::Access, TokenKind::Refresh, TokenKind::Bootstrap];

    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Access => "edg_at_",
            TokenKind::Refresh => "edg_rt_",
            TokenKind::Bootstrap => "edg_bt_",
        }
    }

    /// How a sentence names it.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Access => "access token",
            TokenKind::Refresh => "refresh token",
            TokenKind::Bootstrap => "bootstrap token",
        }
    }

    /// The kind whose prefix `text` starts with.
    pub fn of(text: &str) -> Option<TokenKind> {
        TokenKind::ALL
            .into_iter()
            .find(|k| text.starts_with(k.prefix()))
    }
}

/// Random characters of a token body: 32 base62 characters carry 190 bits.
const RANDOM_CHARS: usize = 32;
/// An access token's device part: the UUID as 32 lowercase hex digits.
const DEVICE_CHARS: usize = 32;
const DISPLAY_BODY_CHARS: usize = 6;

/// A well-formed device token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    kind: TokenKind,
    text: String,
}

impl std::fmt::Debug for Token {
    /// Never prints the token: only its kind and display prefix.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}…)", self.display_prefix())
    }
}

impl Token {
    /// A fresh refresh or bootstrap token.
    pub fn generate(kind: TokenKind) -> Token {
        debug_assert!(kind != TokenKind::Access, "access tokens name their device");
        Token {
            kind,
            text: format!("{}{}", kind.prefix(), random_base62(RANDOM_CHARS)),
        }
    }

    /// A fresh access token for the device whose UUID is `device_id`.
    pub fn generate_access(device_id: &str) -> Token {
        let device = uuid::Uuid::try_parse(device_id)
            .map(|u| u.simple().to_string())
            .unwrap_or_else(|_| "0".repeat(DEVICE_CHARS));
        Token {
            kind: TokenKind::Access,
            text: format!(
                "{}{device}{}",
                TokenKind::Access.prefix(),
                random_base62(RANDOM_CHARS)
            ),
        }
    }

    /// Parses a token a client sent: a known prefix and a body of the right shape.
    pub fn parse(text: &str) -> Result<Token, String> {
        let kind = TokenKind::of(text).ok_or_else(|| {
            "the token is malformed: it must start with edg_at_, edg_rt_ or edg_bt_".to_owned()
        })?;
        let body = &text[kind.prefix().len()..];
        let well_formed = match kind {
            TokenKind::Access => {
                body.len() == DEVICE_CHARS + RANDOM_CHARS
                    && body[..DEVICE_CHARS]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && body[DEVICE_CHARS..]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric())
            }
            _ => body.len() == RANDOM_CHARS && body.bytes().all(|b| b.is_ascii_alphanumeric()),
        };
        if !well_formed {
            return Err(format!(
                "the {} is malformed: it is not one this server issued",
                kind.name()
            ));
        }
        Ok(Token {
            kind,
            text: text.to_owned(),
        })
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The whole token: for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The SHA-256 digest, the only form in which a token is stored.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }

    /// The part safe to store and show: kind prefix and a few body characters.
    pub fn display_prefix(&self) -> &str {
        &self.text[..self.kind.prefix().len() + DISPLAY_BODY_CHARS]
    }

    /// The device part of an access token (32 hex digits), `None` for other kinds.
    pub fn device_part(&self) -> Option<&str> {
        (self.kind == TokenKind::Access)
            .then(|| &self.text[TokenKind::Access.prefix().len()..][..DEVICE_CHARS])
    }
}

/// What a bootstrap token is minted with, checked: its lifetime and how many bootstraps
/// it serves. The API's `POST /api/v1/device-auth/bootstrap-tokens` and `devreg token
/// bootstrap` take the same numbers with the same defaults and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapMint {
    pub ttl_seconds: u32,
    pub max_uses: u32,
}

impl BootstrapMint {
    /// Default lifetime of a bootstrap token: an hour.
    pub const DEFAULT_TTL_SECONDS: u32 = 3600;
    /// Longest lifetime: 30 days.
    pub const MAX_TTL_SECONDS: u32 = 30 * 24 * 3600;
    /// Most bootstraps one token may serve.
    pub const MAX_USES: u32 = 1_000_000;

    /// Checks a mint's numbers, defaulting to one use for an hour; the error names the
    /// field as the API does (`ttl_seconds`, `max_uses`).
    pub fn new(ttl_seconds: Option<u32>, max_uses: Option<u32>) -> Result<BootstrapMint, String> {
        let ttl = ttl_seconds.unwrap_or(Self::DEFAULT_TTL_SECONDS);
        if !(1..=Self::MAX_TTL_SECONDS).contains(&ttl) {
            return Err(format!(
                "ttl_seconds must be an integer from 1 to {}, got {ttl}",
                Self::MAX_TTL_SECONDS
            ));
        }
        let uses = max_uses.unwrap_or(1);
        if !(1..=Self::MAX_USES).contains(&uses) {
            return Err(format!(
                "max_uses must be an integer from 1 to {}, got {uses}",
                Self::MAX_USES
            ));
        }
        Ok(BootstrapMint {
            ttl_seconds: ttl,
            max_uses: uses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_to_their_kind() {
        for token in [
            Token::generate(TokenKind::Refresh),
            Token::generate(TokenKind::Bootstrap),
            Token::generate_access("0190f5a0-0000-7000-8000-000000000001"),
        ] {
            assert_eq!(Token::parse(token.expose()).unwrap(), token);
        }
    }

    #[test]
    fn an_access_token_names_its_device() {
        let token = Token::generate_access("0190f5a0-0000-7000-8000-000000000001");
        assert_eq!(
            token.device_part(),
            Some("0190f5a0000070008000000000000001")
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token::generate(TokenKind::Refresh);
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "edg_rt_short",
            "edg_at_zz",
            "edg_bt_abcdefghijklmnopqrstuvwxyz01234!",
        ] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }
}

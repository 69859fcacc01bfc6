//! Device tokens, stored as digests: bootstrap tokens, and families of access and
//! refresh tokens. No HTTP here: outcomes are values the handlers turn into answers.

use super::Conn;
use super::StoreError;
use crate::domain::{OrgId, Timestamp, Token, TokenKind};

/// A bootstrap token to store.
pub struct NewBootstrap<'a> {
    pub org_id: &'a str,
    pub token: &'a Token,
    pub max_uses: u32,
    pub expires_at: Timestamp,
    pub now: Timestamp,
}

pub fn insert_bootstrap(conn: &Conn, new: &NewBootstrap<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bootstrap_tokens (digest, org_id, prefix, max_uses, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            &&new.token.digest()[..],
            &new.org_id,
            &new.token.display_prefix(),
            &i64::from(new.max_uses),
            &new.now,
            &new.expires_at,
        ],
    )?;
    Ok(())
}

/// Why a bootstrap token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BootstrapRefusal {
    Unknown,
    Expired,
    UsedUp { max_uses: u32 },
}

/// The org of an unexpired bootstrap token with uses left. Does not count a use: see
/// [`count_bootstrap_use`], called once the bootstrap has succeeded.
pub fn check_bootstrap(
    conn: &Conn,
    digest: &[u8; 32],
    now: Timestamp,
) -> Result<Result<OrgId, BootstrapRefusal>, StoreError> {
    let row: Option<(OrgId, u32, u32, Timestamp)> = conn.query_opt(
        "SELECT org_id, max_uses, uses, expires_at FROM bootstrap_tokens WHERE digest = ?1",
        &[&&digest[..]],
        |r| {
            let count = |i| -> Result<u32, StoreError> {
                Ok(u32::try_from(r.get::<i64>(i)?).unwrap_or(u32::MAX))
            };
            Ok((r.get(0)?, count(1)?, count(2)?, r.get(3)?))
        },
    )?;
    Ok(match row {
        None => Err(BootstrapRefusal::Unknown),
        Some((_, _, _, expires_at)) if expires_at <= now => Err(BootstrapRefusal::Expired),
        Some((_, max_uses, uses, _)) if uses >= max_uses => {
            Err(BootstrapRefusal::UsedUp { max_uses })
        }
        Some((org, ..)) => Ok(org),
    })
}

pub fn count_bootstrap_use(conn: &Conn, digest: &[u8; 32]) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bootstrap_tokens SET uses = uses + 1 WHERE digest = ?1",
        &[&&digest[..]],
    )?;
    Ok(())
}

/// A new access and refresh token, as handed out once.
#[derive(Debug)]
pub struct Pair {
    pub access: Token,
    pub refresh: Token,
    pub access_expires_at: Timestamp,
    pub refresh_expires_at: Timestamp,
    pub scopes_json: String,
}

/// What a family's new pair belongs to.
pub struct Family<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub device_id: &'a str,
    pub key_id: &'a str,
    pub scopes_json: &'a str,
}

/// Issues a new pair into `family`.
pub fn issue_pair(
    conn: &Conn,
    family: &Family<'_>,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    now: Timestamp,
) -> Result<Pair, StoreError> {
    let pair = Pair {
        access: Token::generate_access(family.device_id),
        refresh: Token::generate(TokenKind::Refresh),
        access_expires_at: Timestamp(now.0 + access_ttl_secs),
        refresh_expires_at: Timestamp(now.0 + refresh_ttl_secs),
        scopes_json: family.scopes_json.to_owned(),
    };
    for (token, kind, expires_at) in [
        (&pair.access, "access", pair.access_expires_at),
        (&pair.refresh, "refresh", pair.refresh_expires_at),
    ] {
        conn.execute(
            "INSERT INTO device_tokens (digest, kind, family_id, device_id, key_id, org_id, \
             scopes, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                &&token.digest()[..],
                &kind,
                &family.id,
                &family.device_id,
                &family.key_id,
                &family.org_id,
                &family.scopes_json,
                &now,
                &expires_at,
            ],
        )?;
    }
    Ok(pair)
}

/// A stored token and whether it still works.
#[derive(Debug)]
pub struct StoredToken {
    pub kind: String,
    pub family_id: String,
    pub device_id: String,
    pub key_id: String,
    pub org_id: OrgId,
    pub scopes_json: String,
    pub expires_at: Timestamp,
    pub used: bool,
    pub revoked: bool,
    /// The device key the token hangs off has been revoked.
    pub key_revoked: bool,
}

pub fn find(conn: &Conn, digest: &[u8; 32]) -> Result<Option<StoredToken>, StoreError> {
    conn.query_opt(
        "SELECT t.kind, t.family_id, t.device_id, t.key_id, t.org_id, t.scopes, \
                    t.expires_at, t.used_at IS NOT NULL, t.revoked_at IS NOT NULL, \
                    k.revoked_at IS NOT NULL \
             FROM device_tokens t JOIN api_keys k ON k.id = t.key_id WHERE t.digest = ?1",
        &[&&digest[..]],
        |r| {
            Ok(StoredToken {
                kind: r.get(0)?,
                family_id: r.get(1)?,
                device_id: r.get(2)?,
                key_id: r.get(3)?,
                org_id: r.get(4)?,
                scopes_json: r.get(5)?,
                expires_at: r.get(6)?,
                used: r.get(7)?,
                revoked: r.get(8)?,
                key_revoked: r.get(9)?,
            })
        },
    )
}

/// Revokes every token of `family_id` not revoked yet; how many.
pub fn revoke_family(conn: &Conn, family_id: &str, now: Timestamp) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE device_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        &[&family_id, &now],
    )
}

/// Marks a refresh token used (rotated), and forgets the family's tokens that have
/// expired, which nothing can present any more.
pub fn mark_used(
    conn: &Conn,
    digest: &[u8; 32],
    family_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE device_tokens SET used_at = ?2 WHERE digest = ?1",
        &[&&digest[..], &now],
    )?;
    conn.execute(
        "DELETE FROM device_tokens WHERE family_id = ?1 AND expires_at <= ?2",
        &[&family_id, &now],
    )?;
    Ok(())
}

/// The device's current (unrevoked) device key id, the newest if several.
pub fn current_device_key(conn: &Conn, device_id: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT id FROM api_keys WHERE device_id = ?1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        &[&device_id],
        |r| r.get(0),
    )
}

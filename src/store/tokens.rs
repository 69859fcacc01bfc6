//! Device tokens, stored as digests: bootstrap tokens, and families of access and
//! refresh tokens; and the operations on them (mint, bootstrap, refresh, revoke), each
//! one transaction. No HTTP here: outcomes are values, refusals a [`Refusal`], that the
//! handlers turn into answers.

use super::{Conn, StoreError, devices};
use crate::domain::{
    ApiKey, BootstrapMint, Credential, DeviceIdentifier, KeyKind, Labels, OrgId, Platform,
    Timestamp, Token, TokenKind,
};

/// Why a token operation was refused. Each variant carries what its sentence names.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the bootstrap token is not known")]
    BootstrapUnknown,
    #[error("the bootstrap token has expired")]
    BootstrapExpired,
    #[error("the bootstrap token has been used up ({max_uses} uses)")]
    BootstrapUsedUp { max_uses: u32 },
    /// The body names an org other than the bootstrap token's.
    #[error("the bootstrap token is org {token_org}'s, not org {named}'s")]
    BootstrapOtherOrg { token_org: OrgId, named: String },
    /// A device UUID that names no device of the token's org (another org's devices are
    /// as absent), and no identifier to register one by.
    #[error("no device {device_id} in org {org_id}")]
    NoSuchDevice { device_id: String, org_id: OrgId },
    /// The bootstrap names a device already registered in the token's org. A bootstrap
    /// token is handed to every installation of an app, and nothing in a bootstrap
    /// proves it comes from the installation the device is, so it only registers new
    /// devices.
    #[error("device {identifier} is already registered in org {org_id}")]
    DeviceExists {
        identifier: DeviceIdentifier,
        device_id: String,
        org_id: OrgId,
    },
    /// Neither a device UUID nor an identifier.
    #[error("no device named")]
    NoDeviceNamed,
    /// The bootstrap token's org no longer exists.
    #[error("org {0} does not exist")]
    OrgGone(OrgId),
    /// The device's keys are all revoked: its tokens would hang off none.
    #[error("device {device_id} has no valid key")]
    NoDeviceKey { device_id: String },
    /// Not a refresh token this server issued.
    #[error("the refresh token is not known")]
    RefreshUnknown,
    /// The key sent beside a refresh token is of another org than the token.
    #[error("a key of org {key_org} cannot refresh tokens of org {token_org}")]
    RefreshOtherOrg { key_org: OrgId, token_org: OrgId },
    /// The key sent beside a token to revoke is of another org than the token.
    #[error("a key of org {key_org} cannot revoke tokens of org {token_org}")]
    RevokeOtherOrg { key_org: OrgId, token_org: OrgId },
    /// The device key the token hangs off was revoked.
    #[error("the device's key has been revoked")]
    KeyRevoked,
    #[error("the refresh token has been revoked")]
    RefreshRevoked,
    #[error("the refresh token expired at {at:?}")]
    RefreshExpired { at: Timestamp },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        matches!(self, Refusal::Store(e) if e.is_database_failure())
    }
}

/// A minted bootstrap token, for showing once.
#[derive(Debug)]
pub struct MintedBootstrap {
    pub token: Token,
    pub expires_at: Timestamp,
}

/// Mints a bootstrap token for `org_id` and stores its digest: the API's
/// `device-auth/bootstrap-tokens` and `devreg token bootstrap`.
pub fn mint_bootstrap(
    conn: &Conn,
    org_id: &str,
    mint: &BootstrapMint,
    now: Timestamp,
) -> Result<MintedBootstrap, StoreError> {
    let token = Token::generate(TokenKind::Bootstrap);
    let expires_at = Timestamp(now.0 + i64::from(mint.ttl_seconds));
    insert_bootstrap(
        conn,
        &NewBootstrap {
            org_id,
            token: &token,
            max_uses: mint.max_uses,
            expires_at,
            now,
        },
    )?;
    Ok(MintedBootstrap { token, expires_at })
}

/// A pair issued to a device, and the device.
#[derive(Debug)]
pub struct Issued {
    pub pair: Pair,
    pub org_id: OrgId,
    /// The device's UUID.
    pub device_id: String,
    pub identifier: DeviceIdentifier,
}

/// A bootstrap: the token presented and the device it is for, every field parsed.
#[derive(Debug)]
pub struct Bootstrap {
    pub token_digest: [u8; 32],
    /// The org the request names, if any: it must be the token's.
    pub named_org: Option<String>,
    /// The device's UUID, when the request names it so.
    pub device_uuid: Option<String>,
    /// The device's identifier: to find it by, or to register it under.
    pub identifier: Option<DeviceIdentifier>,
    /// For a device registered now.
    pub platform: Platform,
    /// A JSON object, as text: for a device registered now.
    pub capabilities_json: String,
    /// A JSON object, as text: for a device registered now.
    pub metadata_json: String,
    /// The scopes to echo, a JSON array as text.
    pub scopes_json: String,
    pub access_ttl_secs: u32,
    pub refresh_ttl_secs: u32,
}

/// The bootstrap operation: checks the bootstrap token (unexpired, uses left), registers
/// the device it names in the token's org (writing `device.registered`), starts a token
/// family on its key, and counts one use of the token. A device the token's org has
/// already is refused ([`Refusal::DeviceExists`]): anyone holding the app's bootstrap
/// token could otherwise act as it. A UUID of another org's device is as unknown as any.
pub fn bootstrap(conn: &Conn, command: &Bootstrap, now: Timestamp) -> Result<Issued, Refusal> {
    let org_id = check_bootstrap(conn, &command.token_digest, now)?;
    if let Some(named) = &command.named_org
        && named != org_id.as_str()
    {
        return Err(Refusal::BootstrapOtherOrg {
            token_org: org_id,
            named: named.clone(),
        });
    }
    let device_id = match bootstrapped_device(conn, &org_id, command)? {
        Some(id) => {
            return Err(Refusal::DeviceExists {
                identifier: identifier_of(conn, &id)?,
                device_id: id,
                org_id,
            });
        }
        None => {
            let identifier = command.identifier.as_ref().ok_or(Refusal::NoDeviceNamed)?;
            let key = ApiKey::generate(KeyKind::Device);
            let registration = devices::Registration {
                org_id: org_id.as_str(),
                identifier,
                platform: &command.platform,
                capabilities_json: &command.capabilities_json,
                metadata_json: &command.metadata_json,
                labels: &Labels::default(),
                key: &key,
            };
            devices::register(conn, &registration, now)?
                .ok_or_else(|| Refusal::OrgGone(org_id.clone()))?
                .id
        }
    };
    let key_id = current_device_key(conn, &device_id)?.ok_or_else(|| Refusal::NoDeviceKey {
        device_id: device_id.clone(),
    })?;
    let family_id = format!("fam_{}", uuid::Uuid::now_v7().simple());
    let pair = issue_pair(
        conn,
        &Family {
            id: &family_id,
            org_id: org_id.as_str(),
            device_id: &device_id,
            key_id: &key_id,
            scopes_json: &command.scopes_json,
        },
        i64::from(command.access_ttl_secs),
        i64::from(command.refresh_ttl_secs),
        now,
    )?;
    count_bootstrap_use(conn, &command.token_digest)?;
    Ok(Issued {
        identifier: identifier_of(conn, &device_id)?,
        pair,
        org_id,
        device_id,
    })
}

/// The device of `org_id` a bootstrap names, `None` for one to register. A UUID names a
/// device of the token's org only: another org's device is as absent as one that never
/// was, so the answer tells a bootstrap token nothing of other orgs.
fn bootstrapped_device(
    conn: &Conn,
    org_id: &OrgId,
    command: &Bootstrap,
) -> Result<Option<String>, Refusal> {
    if let Some(uuid) = &command.device_uuid {
        match device_of_org(conn, org_id, uuid)? {
            Some(id) => return Ok(Some(id)),
            None if command.identifier.is_none() => {
                return Err(Refusal::NoSuchDevice {
                    device_id: uuid.clone(),
                    org_id: org_id.clone(),
                });
            }
            None => {}
        }
    }
    match &command.identifier {
        Some(identifier) => {
            Ok(devices::find(conn, org_id.as_str(), identifier.as_str())?.map(|d| d.id))
        }
        None => Ok(None),
    }
}

/// The id of the device of `org_id` whose UUID is `id`, if there is one.
fn device_of_org(conn: &Conn, org_id: &OrgId, id: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT id FROM devices WHERE id = ?1 AND org_id = ?2",
        &[&id, &org_id.as_str()],
        |r| r.get(0),
    )
}

/// The identifier of the device whose UUID is `id`.
fn identifier_of(conn: &Conn, id: &str) -> Result<DeviceIdentifier, StoreError> {
    conn.query_row(
        "SELECT identifier FROM devices WHERE id = ?1",
        &[&id],
        |r| r.get(0),
    )
}

/// Seconds after a refresh in which the refresh token it used up may be presented once
/// more, for a client that never saw the answer (OAuth 2.0 Security BCP, refresh token
/// rotation): the retry gets a new pair that supersedes the one it lost.
pub const REFRESH_RETRY_GRACE_SECS: i64 = 60;

/// A refresh: the refresh token presented, and the lifetimes of the pair it is traded for.
#[derive(Debug)]
pub struct Refresh {
    pub token_digest: [u8; 32],
    pub access_ttl_secs: u32,
    pub refresh_ttl_secs: u32,
}

/// What a refresh did.
#[derive(Debug)]
pub enum Refreshed {
    Issued(Box<Issued>),
    /// The refresh token was presented again after it was used: its family is revoked
    /// now (and that is committed), and the caller is refused.
    Reused,
}

/// The refresh operation: trades an unused, unexpired refresh token for a new pair in
/// its family (rotation). A key sent with it (`credential`) must be of the token's org.
/// A used token presented again revokes its whole family, except once within
/// [`REFRESH_RETRY_GRACE_SECS`] of its use while the pair it was traded for is unused:
/// then that pair is revoked (its client never saw it, or the retry would not come) and
/// a new one issued. No token is kept in plain text for this: the lost pair is not
/// answered again, it is superseded.
pub fn refresh(
    conn: &Conn,
    credential: Option<&Credential>,
    command: &Refresh,
    now: Timestamp,
) -> Result<Refreshed, Refusal> {
    let stored = find(conn, &command.token_digest)?
        .filter(|t| t.kind == "refresh")
        .ok_or(Refusal::RefreshUnknown)?;
    if let Some(credential) = credential
        && credential.org_id != stored.org_id
    {
        return Err(Refusal::RefreshOtherOrg {
            key_org: credential.org_id.clone(),
            token_org: stored.org_id,
        });
    }
    if stored.key_revoked {
        return Err(Refusal::KeyRevoked);
    }
    if stored.revoked {
        // A family's revocation ends all of it; a token revoked alone was superseded by
        // a retry within the grace period, so presenting it again is reuse.
        if revoke_family(conn, &stored.family_id, now)? > 0 {
            return Ok(Refreshed::Reused);
        }
        return Err(Refusal::RefreshRevoked);
    }
    if stored.expires_at <= now {
        return Err(Refusal::RefreshExpired {
            at: stored.expires_at,
        });
    }
    if let Some(used_at) = stored.used_at {
        if now.0 - used_at.0 <= REFRESH_RETRY_GRACE_SECS
            && successor_unused(conn, &command.token_digest, &stored.family_id, used_at)?
        {
            supersede(conn, &command.token_digest, &stored.family_id, used_at, now)?;
        } else {
            // Reuse: someone holds a copy. The family's revocation commits; the caller's
            // answer is a refusal all the same.
            revoke_family(conn, &stored.family_id, now)?;
            return Ok(Refreshed::Reused);
        }
    } else {
        mark_used(conn, &command.token_digest, &stored.family_id, now)?;
    }
    let pair = issue_pair(
        conn,
        &Family {
            id: &stored.family_id,
            org_id: stored.org_id.as_str(),
            device_id: &stored.device_id,
            key_id: &stored.key_id,
            scopes_json: &stored.scopes_json,
        },
        i64::from(command.access_ttl_secs),
        i64::from(command.refresh_ttl_secs),
        now,
    )?;
    Ok(Refreshed::Issued(Box::new(Issued {
        identifier: identifier_of(conn, &stored.device_id)?,
        pair,
        org_id: stored.org_id,
        device_id: stored.device_id,
    })))
}

/// The revoke operation: ends the family of the token whose digest is `token_digest`.
/// Whether a family was ended now: false for a token unknown or already revoked. A key
/// sent with it (`credential`) must be of the token's org.
pub fn revoke(
    conn: &Conn,
    credential: Option<&Credential>,
    token_digest: &[u8; 32],
    now: Timestamp,
) -> Result<bool, Refusal> {
    let Some(stored) = find(conn, token_digest)? else {
        return Ok(false);
    };
    if let Some(credential) = credential
        && credential.org_id != stored.org_id
    {
        return Err(Refusal::RevokeOtherOrg {
            key_org: credential.org_id.clone(),
            token_org: stored.org_id,
        });
    }
    Ok(revoke_family(conn, &stored.family_id, now)? > 0)
}

/// A bootstrap token to store.
struct NewBootstrap<'a> {
    pub org_id: &'a str,
    pub token: &'a Token,
    pub max_uses: u32,
    pub expires_at: Timestamp,
    pub now: Timestamp,
}

fn insert_bootstrap(conn: &Conn, new: &NewBootstrap<'_>) -> Result<(), StoreError> {
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

/// The org of an unexpired bootstrap token with uses left. Does not count a use: see
/// [`count_bootstrap_use`], called once the bootstrap has succeeded.
fn check_bootstrap(conn: &Conn, digest: &[u8; 32], now: Timestamp) -> Result<OrgId, Refusal> {
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
    match row {
        None => Err(Refusal::BootstrapUnknown),
        Some((_, _, _, expires_at)) if expires_at <= now => Err(Refusal::BootstrapExpired),
        Some((_, max_uses, uses, _)) if uses >= max_uses => {
            Err(Refusal::BootstrapUsedUp { max_uses })
        }
        Some((org, ..)) => Ok(org),
    }
}

fn count_bootstrap_use(conn: &Conn, digest: &[u8; 32]) -> Result<(), StoreError> {
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
struct Family<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub device_id: &'a str,
    pub key_id: &'a str,
    pub scopes_json: &'a str,
}

/// Issues a new pair into `family`.
fn issue_pair(
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
    /// When it was used up by a refresh.
    pub used_at: Option<Timestamp>,
    pub revoked: bool,
    /// The device key the token hangs off has been revoked.
    pub key_revoked: bool,
}

pub fn find(conn: &Conn, digest: &[u8; 32]) -> Result<Option<StoredToken>, StoreError> {
    conn.query_opt(
        "SELECT t.kind, t.family_id, t.device_id, t.key_id, t.org_id, t.scopes, \
                    t.expires_at, t.used_at, t.revoked_at IS NOT NULL, \
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
                used_at: r.get(7)?,
                revoked: r.get(8)?,
                key_revoked: r.get(9)?,
            })
        },
    )
}

/// Revokes every token of `family_id` not revoked yet; how many.
fn revoke_family(conn: &Conn, family_id: &str, now: Timestamp) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE device_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        &[&family_id, &now],
    )
}

/// Whether the refresh token `digest`, used at `used_at`, was traded for a pair that is
/// still unused: the family's one live refresh token came from that refresh, and no
/// other refresh token issued since has been used or revoked. Times are in seconds, so a
/// chain of refreshes within one second is not told apart, and counts as used.
fn successor_unused(
    conn: &Conn,
    digest: &[u8; 32],
    family_id: &str,
    used_at: Timestamp,
) -> Result<bool, StoreError> {
    let (live, spent): (i64, i64) = conn.query_row(
        "SELECT \
             COALESCE(SUM(CASE WHEN used_at IS NULL AND revoked_at IS NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN used_at IS NULL AND revoked_at IS NULL THEN 0 ELSE 1 END), 0) \
         FROM device_tokens \
         WHERE family_id = ?1 AND kind = 'refresh' AND digest <> ?2 AND created_at >= ?3",
        &[&family_id, &&digest[..], &used_at],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(live == 1 && spent == 0)
}

/// The grace-period retry of the refresh token `digest`: revokes it (a further retry is
/// reuse) and the pair its refresh issued at `used_at`, which the client never saw.
fn supersede(
    conn: &Conn,
    digest: &[u8; 32],
    family_id: &str,
    used_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE device_tokens SET revoked_at = ?4 \
         WHERE family_id = ?1 AND revoked_at IS NULL AND (digest = ?2 OR created_at >= ?3)",
        &[&family_id, &&digest[..], &used_at, &now],
    )?;
    Ok(())
}

/// Marks a refresh token used (rotated), and forgets the family's tokens that have
/// expired, which nothing can present any more.
fn mark_used(
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
fn current_device_key(conn: &Conn, device_id: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT id FROM api_keys WHERE device_id = ?1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        &[&device_id],
        |r| r.get(0),
    )
}

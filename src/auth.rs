//! Who is calling, and whether they may: the key a request presents, turned into a
//! [`Credential`] or refused, and the [`Access`] rule each operation declares once.
//!
//! Keys arrive as `Authorization: Bearer <key>` or `X-API-Key: <key>`. A request with no
//! key is anonymous (open registration may still serve it); a key that is malformed,
//! unknown or revoked is a 401 whatever the endpoint.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

pub use crate::domain::{Acting, Credential, Target};
use crate::domain::{ApiKey, KeyKind, Timestamp};
use crate::error::ApiError;
pub use crate::presented::{is_verified, mark_verified, presented_key};
use crate::state::AppState;
use crate::store::{keys, tokens};

/// A kind of caller an operation may serve: a key of one kind, or no key at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    Secret,
    Publishable,
    Device,
    /// A bootstrap token (`edg_bt_…`), which only `device-auth/bootstrap` takes.
    Bootstrap,
    /// A request without a key.
    Anonymous,
}

impl Allow {
    /// The name the OpenAPI document's `x-credential-kinds` uses.
    pub fn name(self) -> &'static str {
        match self {
            Allow::Secret => "secret",
            Allow::Publishable => "publishable",
            Allow::Device => "device",
            Allow::Bootstrap => "bootstrap",
            Allow::Anonymous => "none",
        }
    }

    /// How a sentence names it.
    fn phrase(self) -> &'static str {
        match self {
            Allow::Secret => "the org's secret key",
            Allow::Publishable => "a publishable key",
            Allow::Device => "the device's own key",
            Allow::Bootstrap => "a bootstrap token",
            Allow::Anonymous => "no key",
        }
    }

    fn of(kind: KeyKind) -> Allow {
        match kind {
            KeyKind::Secret => Allow::Secret,
            KeyKind::Publishable => Allow::Publishable,
            KeyKind::Device => Allow::Device,
        }
    }
}

/// Who may call one operation, declared once as a `pub const ACCESS` beside its handler.
/// The handler's first line asks it; the route table carries it to the OpenAPI document,
/// whose `x-credential-kinds`, security, 401 and 403 responses and "Credentials:" line
/// are generated from it. What a kind alone cannot say (a device key acts only on its
/// own device; anonymous registration only while it is open) stays an explicit second
/// step in the handler.
#[derive(Debug)]
pub struct Access {
    /// What the operation does, for the 403's sentence: "listing devices".
    pub action: &'static str,
    /// The callers it serves; empty for an operation that reads no key at all.
    pub allows: &'static [Allow],
    /// What it acts on: the org, or one device (named in the path or the body, or the
    /// credential's own).
    pub target: Target,
}

impl Access {
    /// An operation that reads no key (health, metrics, the document): a key sent is
    /// ignored, not checked.
    pub const PUBLIC: Access = Access {
        action: "",
        allows: &[],
        target: Target::Server,
    };

    /// Whether the operation reads no key at all.
    pub fn is_public(&self) -> bool {
        self.allows.is_empty()
    }

    pub fn allows(&self, caller: Allow) -> bool {
        self.is_public() || self.allows.contains(&caller)
    }

    /// The caller's credential if this operation serves it: 401 when it needs a key and
    /// none was sent, 403 when it refuses the key's kind. `None` only for an anonymous
    /// caller of an operation that serves one.
    pub fn check(&self, caller: Caller) -> Result<Option<Credential>, ApiError> {
        match caller.0 {
            None if self.allows(Allow::Anonymous) => Ok(None),
            None => Err(key_required()),
            Some(credential) => {
                self.check_kind(credential.kind)?;
                Ok(Some(credential))
            }
        }
    }

    /// [`Access::check`] for an operation that always needs a key.
    pub fn require(&self, caller: Caller) -> Result<Credential, ApiError> {
        self.check(caller)?.ok_or_else(key_required)
    }

    /// [`Access::require`] for an operation on one device: the caller and the device its
    /// request names (`named`: the path's `{device_id}`, the body's `device_id`, or none
    /// for the credential's own), for the transaction function to resolve by the one
    /// rule of `store::devices::acting_device`.
    pub fn acting(&self, caller: Caller, named: Option<String>) -> Result<Acting, ApiError> {
        debug_assert!(self.target.is_device(), "{} acts on a device", self.action);
        let credential = self.require(caller)?;
        Ok(Acting { credential, named })
    }

    /// The same rule on a key's kind alone: for the heartbeat, which looks its key up
    /// inside its own write.
    pub fn check_kind(&self, kind: KeyKind) -> Result<(), ApiError> {
        if self.allows(Allow::of(kind)) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "{} needs {}; a {} key cannot",
            self.action,
            self.keys_phrase(),
            kind.as_str()
        )))
    }

    /// "the org's secret key or the device's own key": the keys the operation takes.
    pub fn keys_phrase(&self) -> String {
        let keys: Vec<&str> = self
            .allows
            .iter()
            .filter(|a| **a != Allow::Anonymous)
            .map(|a| a.phrase())
            .collect();
        join_or(&keys)
    }

    /// The sentence the operation's description ends with in the document.
    pub fn credentials_line(&self) -> String {
        if self.is_public() {
            return "Credentials: none; no key is read.".to_owned();
        }
        let callers: Vec<&str> = self.allows.iter().map(|a| a.phrase()).collect();
        format!("Credentials: {}.", join_or(&callers))
    }
}

/// "a", "a or b", "a, b or c".
fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The extractor handlers take: `Caller(None)` for a request without a key.
#[derive(Debug)]
pub struct Caller(pub Option<Credential>);

impl Caller {
    /// The credential, or 401 for an anonymous request.
    pub fn require(self) -> Result<Credential, ApiError> {
        self.0.ok_or_else(key_required)
    }
}

/// Looks a presented key up by its digest.
async fn authenticate(state: &AppState, text: &str) -> Result<Credential, ApiError> {
    let key = ApiKey::parse(text).map_err(ApiError::Unauthorized)?;
    let digest = key.digest();
    let now = state.clock.now();
    state
        .db
        .read(move |conn| credential_for(conn, &digest, now))
        .await
}

/// The credential a key digest stands for, looked up on `conn`: 401 for an unknown or
/// revoked key. A device's access token stands for its device key until it expires at
/// `now` (the server's clock). For handlers that authenticate inside their own database
/// work instead of through [`Caller`].
pub fn credential_for(
    conn: &crate::store::Conn,
    digest: &[u8; 32],
    now: Timestamp,
) -> Result<Credential, ApiError> {
    let stored = keys::find_by_digest(conn, digest)?;
    if stored.is_none()
        && let Some(token) = tokens::find(conn, digest)?
    {
        return access_token_credential(token, now);
    }
    match stored {
        Some(stored) if !stored.revoked => Ok(Credential {
            key_id: stored.id,
            org_id: stored.org_id,
            kind: stored.kind,
            device_id: stored.device_id,
        }),
        Some(_) => Err(ApiError::Unauthorized(
            "the API key has been revoked".to_owned(),
        )),
        None => Err(ApiError::Unauthorized(
            "the API key is not known to this server".to_owned(),
        )),
    }
}

/// An access token's credential: its device key's, unless the token expired, was revoked
/// (its family was), or its device key was.
fn access_token_credential(
    token: tokens::StoredToken,
    now: Timestamp,
) -> Result<Credential, ApiError> {
    if token.kind != "access" {
        return Err(ApiError::Unauthorized(
            "a refresh token is not an API key: send it to POST /api/v1/device-auth/refresh"
                .to_owned(),
        ));
    }
    if token.key_revoked {
        return Err(ApiError::Unauthorized(
            "the access token's device key has been revoked, which ends its tokens".to_owned(),
        ));
    }
    if token.revoked {
        return Err(ApiError::Unauthorized(
            "the access token has been revoked".to_owned(),
        ));
    }
    if token.expires_at <= now {
        return Err(ApiError::Unauthorized(format!(
            "the access token expired at {}; get a new one from POST \
             /api/v1/device-auth/refresh with the refresh token",
            token.expires_at.to_rfc3339()
        )));
    }
    Ok(Credential {
        key_id: token.key_id,
        org_id: token.org_id,
        kind: KeyKind::Device,
        device_id: Some(token.device_id),
    })
}

/// A presented key, parsed but not yet looked up: what the heartbeat takes instead of
/// [`Caller`], so that its one trip to the writer looks the key up in the same
/// transaction as the write ([`Presented::write`]) rather than in a read before it.
pub struct Presented {
    key: ApiKey,
    req: HttpRequest,
}

impl Presented {
    /// The presented key's kind, known from its prefix.
    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// Looks the key up alone, in a read, and marks the request verified: to answer a bad
    /// body after the key, as every endpoint does.
    pub async fn verify(&self, state: &AppState) -> Result<Credential, ApiError> {
        let (digest, now) = (self.key.digest(), state.clock.now());
        let credential = state
            .db
            .read(move |conn| credential_for(conn, &digest, now))
            .await?;
        mark_verified(&self.req);
        Ok(credential)
    }

    /// Runs `op` in one write transaction as the caller `access` admits, its credential
    /// looked up in the same transaction, acting on the device `named` (or its own). The
    /// request is marked verified for the rate limiter unless the lookup refused the key
    /// (or the database failed first).
    pub async fn write<T, F>(
        self,
        state: &AppState,
        access: &'static Access,
        named: Option<String>,
        op: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Conn, &Acting) -> Result<T, ApiError> + Send + 'static,
    {
        let (digest, now) = (self.key.digest(), state.clock.now());
        let written = state
            .db
            .write(move |tx| {
                let credential = credential_for(tx, &digest, now)?;
                access.check_kind(credential.kind)?;
                op(tx, &Acting { credential, named })
            })
            .await;
        if !matches!(
            written,
            Err(ApiError::Unauthorized(_) | ApiError::Store(_) | ApiError::Internal(_))
        ) {
            mark_verified(&self.req);
        }
        written
    }
}

impl FromRequest for Presented {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Presented, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(presented_api_key(req).map(|key| Presented {
            key,
            req: req.clone(),
        }))
    }
}

/// The key a request presents, parsed but not looked up: 401 if there is none or it is
/// malformed. [`Caller`] without the database.
pub fn presented_api_key(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let text = presented_key(req)?.ok_or_else(key_required)?;
    ApiKey::parse(text).map_err(ApiError::Unauthorized)
}

fn key_required() -> ApiError {
    ApiError::Unauthorized(
        "an API key is required: send it as Authorization: Bearer <key>".to_owned(),
    )
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = presented_key(req).map(|k| k.map(str::to_owned));
        let req = req.clone();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("AppState is not registered".to_owned()))?;
            match presented? {
                None => Ok(Caller(None)),
                Some(text) => {
                    let credential = authenticate(&state, &text).await?;
                    mark_verified(&req);
                    Ok(Caller(Some(credential)))
                }
            }
        })
    }
}

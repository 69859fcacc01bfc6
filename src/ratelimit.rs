//! Rate limits: token buckets (governor's GCRA) that stop one noisy device, app or script
//! from starving the others, checked before a request does any database work.
//!
//! # Which bucket a request is charged to
//! - A request presenting a well-formed key is charged to that key's bucket, in the
//!   limiter of its kind (device, publishable, secret: the kind is the key's prefix). The
//!   bucket is keyed by the first 16 bytes of the key's SHA-256, so nothing is looked up
//!   and a million live buckets take about 50 MiB (`examples/ratelimit_memory.rs`).
//! - A request with no key, a malformed key, or an unreadable auth header is charged to
//!   its client address (IPv6 addresses share a bucket per /64, since one host usually
//!   owns the whole /64).
//! - A keyed request that no handler proved valid ([`presented::is_verified`]: refused with
//!   401, or sent to a route that reads no key, such as `/openapi.json`, an unknown route
//!   or a 405) is charged to its address too, after the fact.
//! - A device's access token (`edg_at_`) names its device, so anyone can make one up
//!   that names a real device. It is charged to its device's bucket only once a handler
//!   has proved it valid: until then (its first request, or a made-up one) it is charged
//!   to its client address up front, like a request without a key, and when a handler
//!   proves it valid its digest joins a bounded set of verified tokens
//!   ([`VERIFIED_TOKENS_MAX`], each entry kept until the token would expire) and that
//!   request is charged to the device after the fact. A token in the set is charged to
//!   its device up front, as a key is: one more SHA-256 and one sharded map lookup, no
//!   database read. A forged token never spends a real device's budget.
//! - Heartbeats are also charged to the device they name, whatever the key
//!   ([`RateLimits::charge_heartbeat`]), so an exhausted device is not served on an org
//!   key; registrations with a publishable key, to a registration bucket of their own.
//!
//! # Why key guessing is still limited
//! Credential buckets are keyed by whatever key text arrives, so a flood of made-up
//! well-formed keys would each get a fresh bucket. Two things stop that. A request whose
//! key was not proven valid is charged to its address too, after the fact (only then do
//! we know, and charging every keyed request to its address would make devices behind
//! one NAT share one bucket). When that charge finds the address bucket
//! empty, the response becomes a 429 and the address is marked as guessing until its
//! bucket refills: from then on every keyed request from it is refused up front, before
//! its key is looked up. So an address can try about as many bad keys as the anonymous
//! quota allows. The price: a valid device behind the same address as a guesser is
//! refused while the guessing goes on.
//!
//! # Memory
//! Each bucket is one `AtomicU64` in a `DashMap`. A background thread drops buckets that
//! are full again (`retain_recent`, `shrink_to_fit`) every [`CLEANUP_EVERY`]; it holds
//! only a `Weak` and ends as soon as the limits are dropped with the server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use dashmap::DashMap;
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

pub use crate::clock::RateLimitClock;
use crate::config::Config;
use crate::domain::{ApiKey, KeyKind};
use crate::error::ApiError;
use crate::presented;

/// How often buckets that are full again are dropped.
pub const CLEANUP_EVERY: Duration = Duration::from_secs(30);

/// A credential's bucket key: the first 16 bytes of the key's SHA-256.
type KeyTag = [u8; 16];

/// At most this many verified access tokens are remembered (about 64 bytes each); past
/// it, a new token is charged to its address on every request until cleanup makes room.
pub const VERIFIED_TOKENS_MAX: usize = 1 << 20;

/// A device's bucket key: its id.
type DeviceTag = u128;

/// A client address's bucket key: an IPv4 address (as its IPv4-mapped IPv6 form) or the
/// /64 network of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(u128);

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        let v6 = match ip {
            IpAddr::V4(v4) => return AddrKey(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => v6,
        };
        match v6.to_ipv4_mapped() {
            Some(v4) => AddrKey(u128::from(v4.to_ipv6_mapped())),
            None => AddrKey(u128::from(v6) & !u128::from(u64::MAX)),
        }
    }
}

type Limiter<K> = RateLimiter<K, DashMapStateStore<K>, RateLimitClock, StateInformationMiddleware>;

/// What charging one request to a bucket decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served; `remaining` more requests may be sent right now.
    Allowed { limit: u32, remaining: u32 },
    /// Refused until `until` on the limiter's clock.
    Limited { retry_after_secs: u64, until: Nanos },
    /// No limit applies.
    Unlimited,
}

/// One kind of bucket: a quota and the keyed limiter that enforces it.
struct Bucket<K: std::hash::Hash + Eq + Clone> {
    /// Who the bucket belongs to, for the 429's message ("device key").
    whose: &'static str,
    per_minute: u32,
    limiter: Limiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    /// A bucket of `per_minute` requests refilled over a minute, `burst` of them at once;
    /// `None` when `per_minute` is 0 (the limit is off).
    fn new(
        whose: &'static str,
        flag: &str,
        per_minute: u32,
        burst: Option<u32>,
        clock: &RateLimitClock,
    ) -> Result<Option<Self>, String> {
        let Some(rate) = NonZeroU32::new(per_minute) else {
            return match burst {
                Some(_) => Err(format!(
                    "--{flag}-burst is set but --{flag} is 0, which turns that limit off; \
                     unset the burst or give a quota"
                )),
                None => Ok(None),
            };
        };
        let burst = match burst {
            None => rate,
            Some(b) => NonZeroU32::new(b).ok_or_else(|| {
                format!("--{flag}-burst must be at least 1; to turn the limit off, set --{flag} 0")
            })?,
        };
        let quota = Quota::per_minute(rate).allow_burst(burst);
        let limiter: Limiter<K> =
            RateLimiter::new(quota, DashMapStateStore::default(), clock.clone());
        Ok(Some(Bucket {
            whose,
            per_minute,
            limiter,
        }))
    }

    fn check(&self, key: &K) -> Decision {
        match self.limiter.check_key(key) {
            Ok(snapshot) => Decision::Allowed {
                limit: self.per_minute,
                remaining: snapshot.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Limited {
                retry_after_secs: whole_seconds(
                    not_until.wait_time_from(self.limiter.clock().now()),
                ),
                until: not_until.earliest_possible(),
            },
        }
    }

    fn limited(&self, retry_after_secs: u64) -> ApiError {
        ApiError::RateLimited {
            message: format!(
                "too many requests for this {}: the limit is {} per minute; retry in {} s",
                self.whose, self.per_minute, retry_after_secs
            ),
            retry_after_secs,
        }
    }

    fn cleanup(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// A wait in whole seconds, rounded up (waiting less would be refused again), at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

fn check_optional<K: std::hash::Hash + Eq + Clone>(
    bucket: &Option<Bucket<K>>,
    key: &K,
) -> Decision {
    bucket
        .as_ref()
        .map_or(Decision::Unlimited, |b| b.check(key))
}

/// The registration route, whose publishable-key requests have a bucket of their own.
const REGISTER_PATH: &str = "/api/v1/devices/register";

/// A key's bucket key.
/// The bucket a key is charged to: its digest's first 16 bytes, or for an access token
/// its device's (ApiKey::bucket_tag), so a refresh does not hand out a fresh bucket.
fn tag(key: &ApiKey) -> KeyTag {
    key.bucket_tag()
}

/// An access token's own tag (not its device's): the first 16 bytes of its digest.
fn token_tag(key: &ApiKey) -> KeyTag {
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&key.digest()[..16]);
    tag
}

/// Paths never rate limited. Health checks and metric scrapes are the operator's, not
/// clients': they must not fail because clients are busy.
pub const UNLIMITED_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// Every bucket of a server, and the addresses caught guessing keys.
pub struct RateLimits {
    device: Option<Bucket<KeyTag>>,
    publishable: Option<Bucket<KeyTag>>,
    secret: Option<Bucket<KeyTag>>,
    address: Option<Bucket<AddrKey>>,
    /// Heartbeats per device, whatever key sends them.
    heartbeat: Option<Bucket<DeviceTag>>,
    /// Registrations per publishable key, beside its general bucket.
    publishable_register: Option<Bucket<KeyTag>>,
    /// Addresses whose bucket ran out on refused keys, and when they may try keys again.
    guessing: DashMap<AddrKey, Nanos>,
    /// Access tokens a handler proved valid (the first 16 bytes of their digest), and
    /// until when they are trusted to spend their device's bucket up front.
    verified_tokens: DashMap<KeyTag, Nanos>,
    /// How long an access token lives: how long a verified one is remembered.
    access_token_ttl: Duration,
    trust_proxy_headers: bool,
    clock: RateLimitClock,
    /// Dropped with the limits, which tells the cleanup thread to stop.
    cleanup_stop: OnceLock<mpsc::Sender<()>>,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

/// What [`RateLimits::admit`] hands on to [`RateLimits::settle`] for a request it let
/// through.
#[derive(Debug)]
pub struct Ticket {
    addr: AddrKey,
    /// The request was charged to a key's bucket, so a 401 must charge its address too.
    keyed: bool,
    decision: Decision,
    /// An access token: its digest's tag, and whether it was charged to its device.
    token: Option<TokenCharge>,
}

/// How an access token was charged by [`RateLimits::admit`].
#[derive(Debug, Clone, Copy)]
enum TokenCharge {
    /// Not known valid: charged to its address; `device` is the bucket it spends once a
    /// handler proves it valid.
    Unverified { token: KeyTag, device: KeyTag },
    /// Known valid: charged to its device up front; forgotten if a handler refuses it
    /// (revoked since).
    Verified { token: KeyTag },
}

impl RateLimits {
    /// The limits a config asks for; an invalid quota is an error naming the flag.
    pub fn from_config(config: &Config) -> Result<RateLimits, String> {
        let clock = &config.rate_limit_clock;
        Ok(RateLimits {
            device: Bucket::new(
                "device key",
                "rate-limit-device",
                config.rate_limit_device,
                config.rate_limit_device_burst,
                clock,
            )?,
            publishable: Bucket::new(
                "publishable key",
                "rate-limit-publishable",
                config.rate_limit_publishable,
                config.rate_limit_publishable_burst,
                clock,
            )?,
            secret: Bucket::new(
                "secret key",
                "rate-limit-secret",
                config.rate_limit_secret,
                config.rate_limit_secret_burst,
                clock,
            )?,
            address: Bucket::new(
                "client address",
                "rate-limit-anonymous",
                config.rate_limit_anonymous,
                config.rate_limit_anonymous_burst,
                clock,
            )?,
            heartbeat: Bucket::new(
                "device",
                "rate-limit-device",
                config.rate_limit_device,
                config.rate_limit_device_burst,
                clock,
            )?,
            publishable_register: Bucket::new(
                "publishable key's registrations",
                "rate-limit-publishable-register",
                config.rate_limit_publishable_register,
                config.rate_limit_publishable_register_burst,
                clock,
            )?,
            guessing: DashMap::new(),
            verified_tokens: DashMap::new(),
            access_token_ttl: Duration::from_secs(u64::from(config.access_token_ttl.max(1))),
            trust_proxy_headers: config.trust_proxy_headers,
            clock: clock.clone(),
            cleanup_stop: OnceLock::new(),
        })
    }

    /// Starts the thread that runs [`RateLimits::cleanup`] every `every`, until the limits
    /// are dropped. `None` if it was already started or could not start.
    pub fn start_cleanup(self: &Arc<Self>, every: Duration) -> Option<JoinHandle<()>> {
        let (stop, stopped) = mpsc::channel::<()>();
        if self.cleanup_stop.set(stop).is_err() {
            return None;
        }
        let limits: Weak<RateLimits> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("devreg-ratelimit-cleanup".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match limits.upgrade() {
                        Some(limits) => limits.cleanup(),
                        None => return,
                    }
                }
            });
        spawned
            .inspect_err(|err| {
                log::warn!("rate limit cleanup thread did not start ({err}); buckets will pile up")
            })
            .ok()
    }

    /// Decides whether a request may go on, before any database work. `Err` is the 429.
    pub fn admit(&self, req: &HttpRequest) -> Result<Ticket, ApiError> {
        let addr = self.client_address(req);
        // The console's files are many small anonymous requests per page load; its API
        // calls carry the key and are limited as the key's.
        if UNLIMITED_PATHS.contains(&req.path()) || crate::paths::is_console_path(req.path()) {
            return Ok(Ticket {
                addr,
                keyed: false,
                decision: Decision::Unlimited,
                token: None,
            });
        }
        let key = match presented::presented_key(req) {
            Ok(Some(text)) => ApiKey::parse(text).ok(),
            _ => None,
        };
        match key {
            Some(key) => {
                let ticket = self.admit_key(&key, addr)?;
                if key.kind() == KeyKind::Publishable
                    && req.path() == REGISTER_PATH
                    && req.method() == actix_web::http::Method::POST
                    && let Some(bucket) = &self.publishable_register
                    && let Decision::Limited {
                        retry_after_secs, ..
                    } = bucket.check(&tag(&key))
                {
                    return Err(bucket.limited(retry_after_secs));
                }
                Ok(ticket)
            }
            None => self.admit_anonymous(addr),
        }
    }

    /// Charges one heartbeat to the bucket of the device it is for, whichever key sent
    /// it: the device's own, a publishable or the secret key. `Err` is the 429. Called
    /// once the device is known, before anything is written.
    pub fn charge_heartbeat(&self, device_id: &str) -> Result<(), ApiError> {
        let Some(bucket) = &self.heartbeat else {
            return Ok(());
        };
        let tag = match uuid::Uuid::try_parse(device_id) {
            Ok(id) => id.as_u128(),
            Err(_) => return Ok(()),
        };
        match bucket.check(&tag) {
            Decision::Limited {
                retry_after_secs, ..
            } => Err(bucket.limited(retry_after_secs)),
            _ => Ok(()),
        }
    }

    fn admit_key(&self, key: &ApiKey, addr: AddrKey) -> Result<Ticket, ApiError> {
        if let Some(until) = self.guessing.get(&addr).map(|entry| *entry) {
            let now = self.clock.now();
            if now < until {
                let retry_after_secs = whole_seconds(until.saturating_sub(now).into());
                return Err(ApiError::RateLimited {
                    message: format!(
                        "too many requests with unknown keys from this address; \
                         retry in {retry_after_secs} s"
                    ),
                    retry_after_secs,
                });
            }
        }
        if key.is_access_token() {
            let token = token_tag(key);
            if !self.is_verified_token(&token) {
                let mut ticket = self.admit_anonymous(addr)?;
                ticket.token = Some(TokenCharge::Unverified {
                    token,
                    device: tag(key),
                });
                return Ok(ticket);
            }
        }
        let token = key.is_access_token().then(|| TokenCharge::Verified {
            token: token_tag(key),
        });
        let (bucket, decision) = self.check_credential(key);
        match (bucket, decision) {
            (
                Some(bucket),
                Decision::Limited {
                    retry_after_secs, ..
                },
            ) => Err(bucket.limited(retry_after_secs)),
            (_, decision) => Ok(Ticket {
                addr,
                keyed: true,
                decision,
                token,
            }),
        }
    }

    fn admit_anonymous(&self, addr: AddrKey) -> Result<Ticket, ApiError> {
        match (&self.address, check_optional(&self.address, &addr)) {
            (
                Some(bucket),
                Decision::Limited {
                    retry_after_secs, ..
                },
            ) => Err(bucket.limited(retry_after_secs)),
            (_, decision) => Ok(Ticket {
                addr,
                keyed: false,
                decision,
                token: None,
            }),
        }
    }

    /// Charges one request to the bucket of `key`'s kind, if that kind is limited.
    fn check_credential(&self, key: &ApiKey) -> (Option<&Bucket<KeyTag>>, Decision) {
        let bucket = match key.kind() {
            KeyKind::Device => &self.device,
            KeyKind::Publishable => &self.publishable,
            KeyKind::Secret => &self.secret,
        };
        let Some(bucket) = bucket else {
            return (None, Decision::Unlimited);
        };
        (Some(bucket), bucket.check(&tag(key)))
    }

    /// Whether an access token (by [`token_tag`]) was proved valid and has not expired.
    fn is_verified_token(&self, token: &KeyTag) -> bool {
        self.verified_tokens
            .get(token)
            .is_some_and(|until| *until > self.clock.now())
    }

    /// Remembers an access token a handler proved valid, if there is room.
    fn remember_token(&self, token: KeyTag) {
        if self.verified_tokens.len() >= VERIFIED_TOKENS_MAX {
            return;
        }
        let until = self.clock.now() + Nanos::from(self.access_token_ttl);
        self.verified_tokens.insert(token, until);
    }

    /// Charges one request with `key` to its bucket, as a request presenting it would be.
    pub fn charge_key(&self, key: &ApiKey) -> Decision {
        self.check_credential(key).1
    }

    /// Finishes a request [`RateLimits::admit`] let through: a keyed request that no
    /// handler proved valid (a 401, or a route that reads no key) is charged to its address
    /// (and becomes a 429 if that bucket is empty); a success gets the `X-RateLimit-*`
    /// headers of the bucket it was charged to.
    pub fn settle(&self, mut ticket: Ticket, mut response: ServiceResponse) -> ServiceResponse {
        let status = response.status();
        let verified = presented::is_verified(response.request());
        match ticket.token {
            // Charged to its address already; once proved valid it spends its device's
            // bucket (after the fact: the answer stands) and is charged up front from now.
            Some(TokenCharge::Unverified { token, device }) if verified => {
                self.remember_token(token);
                if let Some(bucket) = &self.device {
                    ticket.decision = bucket.check(&device);
                }
            }
            Some(TokenCharge::Verified { token })
                if status == StatusCode::UNAUTHORIZED && !verified =>
            {
                self.verified_tokens.remove(&token);
            }
            _ => {}
        }
        if ticket.keyed
            && let Some(bucket) = &self.address
            && !presented::is_verified(response.request())
        {
            match bucket.check(&ticket.addr) {
                Decision::Limited {
                    retry_after_secs,
                    until,
                } => {
                    self.guessing.insert(ticket.addr, until);
                    return response.error_response(bucket.limited(retry_after_secs));
                }
                decision => ticket.decision = decision,
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            return response;
        }
        if let (true, Decision::Allowed { limit, remaining }) =
            (status.is_success(), ticket.decision)
        {
            let headers = response.headers_mut();
            headers.insert(
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderValue::from(limit),
            );
            headers.insert(
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(remaining),
            );
        }
        response
    }

    /// The address a request is charged to: the connection's, or with
    /// `trust_proxy_headers` the one the proxy reports.
    fn client_address(&self, req: &HttpRequest) -> AddrKey {
        let forwarded = match self.trust_proxy_headers {
            true => forwarded_address(req),
            false => None,
        };
        let ip = forwarded
            .or_else(|| req.peer_addr().map(|a| a.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        AddrKey::from(ip)
    }

    /// Drops every bucket that is full again and every guessing mark that has expired,
    /// and returns the memory their maps no longer need.
    pub fn cleanup(&self) {
        for bucket in [
            &self.device,
            &self.publishable,
            &self.secret,
            &self.publishable_register,
        ]
        .into_iter()
        .flatten()
        {
            bucket.cleanup();
        }
        if let Some(bucket) = &self.address {
            bucket.cleanup();
        }
        if let Some(bucket) = &self.heartbeat {
            bucket.cleanup();
        }
        let now = self.clock.now();
        self.guessing.retain(|_, until| *until > now);
        self.guessing.shrink_to_fit();
        self.verified_tokens.retain(|_, until| *until > now);
        self.verified_tokens.shrink_to_fit();
    }

    /// How many buckets and guessing marks are held.
    pub fn tracked(&self) -> usize {
        [
            &self.device,
            &self.publishable,
            &self.secret,
            &self.publishable_register,
        ]
        .into_iter()
        .flatten()
        .map(|b| b.limiter.len())
        .sum::<usize>()
            + self.address.as_ref().map_or(0, |b| b.limiter.len())
            + self.heartbeat.as_ref().map_or(0, |b| b.limiter.len())
            + self.guessing.len()
            + self.verified_tokens.len()
    }
}

/// The client address a proxy reports: `Fly-Client-IP`, else the last entry of
/// `X-Forwarded-For` (the one the nearest proxy appended; entries before it are whatever
/// the client sent).
fn forwarded_address(req: &HttpRequest) -> Option<IpAddr> {
    let headers = req.headers();
    if let Some(ip) = headers
        .get("fly-client-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_address)
    {
        return Some(ip);
    }
    headers
        .get_all("x-forwarded-for")
        .last()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(parse_address)
}

/// An address as proxies write it: bare, or with a port.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    /// Limits from the command line's defaults (an ephemeral config has none), edited.
    fn limits(edit: impl FnOnce(&mut Config)) -> RateLimits {
        let mut config = Config::default();
        edit(&mut config);
        RateLimits::from_config(&config).unwrap()
    }

    fn addr(text: &str) -> AddrKey {
        AddrKey::from(text.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_64() {
        assert_eq!(addr("2001:db8:1:2::1"), addr("2001:db8:1:2:ffff::9"));
        assert_ne!(addr("2001:db8:1:2::1"), addr("2001:db8:1:3::1"));
    }

    #[test]
    fn ipv4_addresses_are_kept_whole_even_when_mapped() {
        assert_ne!(addr("192.0.2.1"), addr("192.0.2.2"));
        assert_eq!(addr("192.0.2.1"), addr("::ffff:192.0.2.1"));
    }

    #[test]
    fn waits_round_up_to_whole_seconds_and_never_to_zero() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(29_001)), 30);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
    }

    #[test]
    fn forwarded_headers_count_only_when_trusted() {
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:9".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.7, 203.0.113.5"))
            .to_http_request();
        let trusted = limits(|c| c.trust_proxy_headers = true);
        let untrusted = limits(|_| {});
        assert_eq!(trusted.client_address(&req), addr("203.0.113.5"));
        assert_eq!(untrusted.client_address(&req), addr("127.0.0.1"));
    }

    #[test]
    fn fly_client_ip_wins_over_x_forwarded_for() {
        let req = TestRequest::default()
            .insert_header(("fly-client-ip", "2001:db8::5"))
            .insert_header(("x-forwarded-for", "203.0.113.5"))
            .to_http_request();
        let trusted = limits(|c| c.trust_proxy_headers = true);
        assert_eq!(trusted.client_address(&req), addr("2001:db8::5"));
    }

    #[test]
    fn zero_burst_and_burst_without_quota_are_refused() {
        let config = Config {
            rate_limit_device_burst: Some(0),
            ..Config::default()
        };
        let err = RateLimits::from_config(&config).unwrap_err();
        assert!(
            err.contains("--rate-limit-device-burst must be at least 1"),
            "{err}"
        );

        let config = Config {
            rate_limit_secret: 0,
            rate_limit_secret_burst: Some(5),
            ..Config::default()
        };
        let err = RateLimits::from_config(&config).unwrap_err();
        assert!(err.contains("--rate-limit-secret is 0"), "{err}");
    }

    #[test]
    fn retry_after_is_the_wait_for_the_next_token() {
        let limits = limits(|c| c.rate_limit_device = 2);
        let key = ApiKey::generate(KeyKind::Device);
        assert!(matches!(
            limits.charge_key(&key),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            limits.charge_key(&key),
            Decision::Allowed { remaining: 0, .. }
        ));
        let Decision::Limited {
            retry_after_secs, ..
        } = limits.charge_key(&key)
        else {
            panic!("third request in a minute should be limited");
        };
        assert_eq!(retry_after_secs, 30);
        limits.clock.advance(Duration::from_secs(retry_after_secs));
        assert!(matches!(limits.charge_key(&key), Decision::Allowed { .. }));
    }

    #[test]
    fn cleanup_drops_buckets_that_are_full_again() {
        let limits = limits(|_| {});
        for _ in 0..1000 {
            limits.charge_key(&ApiKey::generate(KeyKind::Device));
        }
        let busy = ApiKey::generate(KeyKind::Secret);
        for _ in 0..100 {
            limits.charge_key(&busy);
        }
        assert_eq!(limits.tracked(), 1001);
        limits.clock.advance(Duration::from_secs(2));
        limits.cleanup();
        assert_eq!(
            limits.tracked(),
            1,
            "only the busy key's bucket is not full yet"
        );
    }

    #[test]
    fn cleanup_thread_stops_when_the_limits_are_dropped() {
        let limits = Arc::new(limits(|_| {}));
        let cleaner = limits.start_cleanup(Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        drop(limits);
        cleaner.join().unwrap();
    }
}

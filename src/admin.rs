//! Operator actions on orgs and keys, shared by the command line, first start and tests.

use crate::domain::{ApiKey, KeyKind, OrgId, now};
use crate::store::{Db, StoreError, keys, orgs};

/// An org's keys as shown the one time they exist in plain text.
#[derive(Debug)]
pub struct OrgKeys {
    pub org_id: OrgId,
    pub secret_key: ApiKey,
    pub publishable_key: ApiKey,
}

/// Why an operator action failed, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates org `name` with a fresh secret key and publishable key.
pub fn create_org(db: &Db, name: &str) -> Result<OrgKeys, AdminError> {
    let org_id = OrgId::try_from(name.to_owned())
        .map_err(|e| AdminError::Invalid(format!("org name {e}")))?;
    let secret_key = ApiKey::generate(KeyKind::Secret);
    let publishable_key = ApiKey::generate(KeyKind::Publishable);
    db.write_sync(|tx| {
        let now = now();
        orgs::insert(tx, &org_id, now)?;
        orgs::add_key(tx, &org_id, &secret_key, now)?;
        orgs::add_key(tx, &org_id, &publishable_key, now)?;
        Ok(())
    })
    .map_err(|e| match e {
        StoreError::Duplicate => AdminError::Invalid(format!("org {org_id} already exists")),
        other => other.into(),
    })?;
    Ok(OrgKeys {
        org_id,
        secret_key,
        publishable_key,
    })
}

/// Refuses an org that does not exist, saying how to create it.
pub fn require_org(db: &Db, org: &str) -> Result<(), AdminError> {
    if db.read_sync(|c| orgs::exists(c, org))? {
        return Ok(());
    }
    Err(AdminError::Invalid(missing_org(org)))
}

fn missing_org(org: &str) -> String {
    format!("org {org} does not exist; create it first with `devreg org create {org}`")
}

/// Creates a new key of `kind` (secret or publishable) for an existing org.
pub fn create_key(db: &Db, org: &str, kind: KeyKind) -> Result<ApiKey, AdminError> {
    if kind == KeyKind::Device {
        return Err(AdminError::Invalid(
            "device keys are made by registering a device".to_owned(),
        ));
    }
    let org_id = OrgId::try_from(org.to_owned())
        .map_err(|e| AdminError::Invalid(format!("org name {e}")))?;
    let key = ApiKey::generate(kind);
    db.write_sync(|tx| {
        if !orgs::exists(tx, org_id.as_str())? {
            return Ok(false);
        }
        orgs::add_key(tx, &org_id, &key, now())?;
        Ok(true)
    })?
    .then_some(key)
    .ok_or_else(|| AdminError::Invalid(missing_org(org_id.as_str())))
}

/// Revokes the one key named by its id, its display prefix (or the start of it), or the
/// whole key. Refuses a prefix that names more than one key, listing them. The prefix may
/// end with the ellipsis `key list` prints after it (`edg_live_VOHiR3…`, or `...`), so
/// what the listing shows can be pasted back.
pub fn revoke_key(db: &Db, needle: &str) -> Result<keys::KeyListing, AdminError> {
    let needle = needle.trim();
    let needle = needle
        .strip_suffix('…')
        .or_else(|| needle.strip_suffix("..."))
        .unwrap_or(needle);
    let digest = ApiKey::parse(needle).ok().map(|k| k.digest());
    db.write_sync(|tx| {
        let mut found = keys::find_for_revoke(tx, needle, digest.as_ref())?;
        match found.len() {
            0 => Ok(Err(format!(
                "no key has the id or prefix {needle:?}; `devreg key list` shows the org keys"
            ))),
            1 => {
                let key = found.remove(0);
                if key.revoked_at.is_some() {
                    return Ok(Err(format!("key {} is already revoked", key.id)));
                }
                keys::revoke(tx, &key.id, now())?;
                Ok(Ok(key))
            }
            n => Ok(Err(format!(
                "{needle:?} matches {n} keys; give the id of the one to revoke:\n{}",
                found
                    .iter()
                    .map(|k| format!(
                        "  {}  {} key {}… of org {}{}",
                        k.id,
                        k.kind,
                        k.prefix,
                        k.org_id,
                        if k.revoked_at.is_some() {
                            " (revoked)"
                        } else {
                            ""
                        }
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            ))),
        }
    })?
    .map_err(AdminError::Invalid)
}

/// A device as `devreg device show` prints it.
#[derive(Debug)]
pub struct DeviceShown {
    pub device: crate::store::devices::Device,
    pub labels: crate::domain::Labels,
}

fn missing_device(org: &str, reference: &str) -> AdminError {
    AdminError::Invalid(format!(
        "org {org} has no device {reference:?}; `devreg device list --org {org}` lists them"
    ))
}

/// A page of an org's devices, oldest first, from `after` (a device id) on.
pub fn list_devices(
    db: &Db,
    org: &str,
    limit: u32,
    after: Option<&str>,
) -> Result<(Vec<crate::store::devices::DeviceSummary>, u64), AdminError> {
    use crate::store::devices;
    require_org(db, org)?;
    db.read_sync(|conn| {
        devices::list(
            conn,
            &devices::ListQuery {
                org_id: org,
                platform: None,
                status: None,
                labels: &[],
                connectivity: None,
                last_seen_before: None,
                last_seen_after: None,
                prefix: None,
                rule: crate::domain::ConnectivityRule::new(60, 2, 10),
                now: now(),
                limit,
                offset: 0,
                after,
            },
        )
    })?
    .ok_or_else(|| missing_device(org, after.unwrap_or_default()))
}

/// One device of `org`, by its id or identifier.
pub fn show_device(db: &Db, org: &str, reference: &str) -> Result<DeviceShown, AdminError> {
    use crate::store::devices;
    require_org(db, org)?;
    db.read_sync(|conn| {
        let Some(device) = devices::find(conn, org, reference)? else {
            return Ok(None);
        };
        let labels = devices::labels_of(conn, &device.id)?;
        Ok(Some(DeviceShown { device, labels }))
    })?
    .ok_or_else(|| missing_device(org, reference))
}

/// Deletes a device of `org` and everything of it, as `DELETE /api/v1/devices/{id}` does.
pub fn delete_device(
    db: &Db,
    org: &str,
    reference: &str,
) -> Result<crate::store::devices::Device, AdminError> {
    require_org(db, org)?;
    db.write_sync(|tx| crate::store::devices::delete(tx, org, reference, now()))?
        .ok_or_else(|| missing_device(org, reference))
}

/// Issues a new key for a device of `org` and revokes its old ones, as
/// `POST /api/v1/devices/{id}/keys` does. The key is for showing once.
pub fn rekey_device(
    db: &Db,
    org: &str,
    reference: &str,
) -> Result<(crate::store::devices::Device, ApiKey), AdminError> {
    use crate::store::devices;
    require_org(db, org)?;
    let key = ApiKey::generate(KeyKind::Device);
    let device = db
        .write_sync(|tx| {
            let Some(device) = devices::find(tx, org, reference)? else {
                return Ok(None);
            };
            devices::rekey(tx, &device, &key, now())?;
            Ok(Some(device))
        })?
        .ok_or_else(|| missing_device(org, reference))?;
    Ok((device, key))
}

/// What first start did to the database.
#[derive(Debug, Default)]
pub struct Bootstrap {
    /// Set when the database was empty and `org_demo` was created: its keys, shown once.
    /// A key the operator preset is included, so the caller can tell which it generated.
    pub created: Option<OrgKeys>,
    /// Whether each key came from the operator (true) or was generated.
    pub secret_preset: bool,
    pub publishable_preset: bool,
}

/// On an empty database, creates `org_demo` with its secret and publishable keys (the
/// operator's preset keys where given). On any database, stores preset keys for
/// `org_demo` that are not stored yet.
pub fn bootstrap(
    db: &Db,
    preset_secret: Option<&str>,
    preset_publishable: Option<&str>,
) -> Result<Bootstrap, AdminError> {
    let preset = |text: Option<&str>, kind: KeyKind, flag: &str| {
        text.map(|t| {
            ApiKey::parse(t)
                .ok()
                .filter(|k| k.kind() == kind)
                .ok_or_else(|| {
                    AdminError::Invalid(format!(
                        "{flag} must be a {} key: {} followed by 22 to 128 letters or digits",
                        kind.as_str(),
                        kind.prefix()
                    ))
                })
        })
        .transpose()
    };
    let secret = preset(preset_secret, KeyKind::Secret, "--secret-key")?;
    let publishable = preset(
        preset_publishable,
        KeyKind::Publishable,
        "--publishable-key",
    )?;
    let org_id = OrgId::demo();

    let result = Bootstrap {
        secret_preset: secret.is_some(),
        publishable_preset: publishable.is_some(),
        created: None,
    };
    let created = db.write_sync(|tx| {
        let now = now();
        if orgs::count(tx)? == 0 {
            let keys = OrgKeys {
                org_id: org_id.clone(),
                secret_key: secret
                    .clone()
                    .unwrap_or_else(|| ApiKey::generate(KeyKind::Secret)),
                publishable_key: publishable
                    .clone()
                    .unwrap_or_else(|| ApiKey::generate(KeyKind::Publishable)),
            };
            orgs::insert(tx, &org_id, now)?;
            orgs::add_key(tx, &org_id, &keys.secret_key, now)?;
            orgs::add_key(tx, &org_id, &keys.publishable_key, now)?;
            return Ok(Some(keys));
        }
        for key in secret.iter().chain(publishable.iter()) {
            if keys::find_by_digest(tx, &key.digest())?.is_some() {
                continue;
            }
            if !orgs::exists(tx, org_id.as_str())? {
                orgs::insert(tx, &org_id, now)?;
            }
            orgs::add_key(tx, &org_id, key, now)?;
        }
        Ok(None)
    })?;
    Ok(Bootstrap { created, ..result })
}

/// Platforms that seeded devices cycle through, as a fleet would mix them.
const SEED_PLATFORMS: [&str; 4] = ["python", "ios", "android", "edge"];

/// The labels `devreg seed --labels` gives device `n`: `ring` one of `r0`..`r9`, `site`
/// one of `s0`..`s99`, and `canary` on every hundredth.
fn seed_labels(n: u64, with_labels: bool) -> crate::domain::Labels {
    if !with_labels {
        return crate::domain::Labels::default();
    }
    let mut pairs = vec![
        ("ring".to_owned(), format!("r{}", n % 10)),
        ("site".to_owned(), format!("s{}", n % 100)),
    ];
    if n.is_multiple_of(100) {
        pairs.push(("canary".to_owned(), String::new()));
    }
    crate::domain::Labels::stored(pairs)
}

/// Registers `count` devices named `{prefix}-{n}` into `org` quickly (10,000 per
/// transaction), for benchmarks and load tests. Every fifth device is marked inactive so
/// status filters have something to filter. Device ids and keys are written to
/// `keys_out` as `id,key` lines for `keys_wanted` devices spread evenly over all of them
/// (every `count / keys_wanted`-th), so load driven with them reaches the whole database,
/// not only its first pages. A progress line goes to stderr every 100,000 devices.
pub fn seed_devices(
    db: &Db,
    org: &str,
    prefix: &str,
    count: u64,
    keys_out: &mut dyn std::io::Write,
    keys_wanted: u64,
    with_labels: bool,
) -> Result<(), AdminError> {
    use crate::store::devices;
    const CHUNK: u64 = 10_000;
    require_org(db, org)?;
    let stride = (count / keys_wanted.max(1)).max(1);
    let mut keys_written = 0;
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < count {
        let end = (done + CHUNK).min(count);
        let batch: Vec<(String, String, ApiKey)> = (done..end)
            .map(|n| {
                (
                    uuid::Uuid::now_v7().hyphenated().to_string(),
                    format!("{prefix}-{n}"),
                    ApiKey::generate(KeyKind::Device),
                )
            })
            .collect();
        db.write_sync(|tx| {
            let now = now();
            for (n, (id, identifier, key)) in (done..).zip(&batch) {
                let key_id = format!("key_{}", uuid::Uuid::now_v7().simple());
                devices::insert(
                    tx,
                    &devices::NewDevice {
                        id,
                        org_id: org,
                        identifier,
                        platform: SEED_PLATFORMS[(n % 4) as usize],
                        capabilities_json: "{}",
                        metadata_json: "{}",
                        labels: &seed_labels(n, with_labels),
                        key: keys::NewKey {
                            id: &key_id,
                            org_id: org,
                            kind: KeyKind::Device,
                            device_id: Some(id),
                            prefix: key.display_prefix(),
                            digest: &key.digest(),
                            now,
                        },
                        now,
                    },
                )?;
                if n % 5 == 4 {
                    tx.prepare_cached("UPDATE devices SET status = 'inactive' WHERE id = ?1")?
                        .execute([id])?;
                }
            }
            Ok(())
        })
        .map_err(|e| match e {
            StoreError::Duplicate => AdminError::Invalid(format!(
                "org {org} already has devices named {prefix}-N; choose another --prefix"
            )),
            other => other.into(),
        })?;
        for (n, (id, _, key)) in (done..).zip(&batch) {
            if n % stride == 0 && keys_written < keys_wanted {
                keys_written += 1;
                writeln!(keys_out, "{id},{}", key.expose())
                    .map_err(|e| AdminError::Invalid(format!("writing keys failed: {e}")))?;
            }
        }
        done = end;
        if done % 100_000 == 0 || done == count {
            eprintln!(
                "seeded {done}/{count} devices into {org} ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

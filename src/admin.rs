//! Operator actions on orgs and keys, shared by the command line, first start and tests.

use crate::domain::{Acting, ApiKey, Credential, KeyKind, OrgId, now};
use crate::store::devices::{self, NotActing};
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

/// An invalid request refuses the transaction (nothing of it is kept); only the
/// database failing is a failure.
impl crate::store::Failure for AdminError {
    fn is_database_failure(&self) -> bool {
        matches!(self, AdminError::Store(e) if e.is_database_failure())
    }
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
            return Ok::<_, StoreError>(false);
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
            0 => Err(AdminError::Invalid(format!(
                "no key has the id or prefix {}; `devreg key list` shows the org keys",
                crate::domain::quoted(needle)
            ))),
            1 => {
                let key = found.remove(0);
                if key.revoked_at.is_some() {
                    return Err(AdminError::Invalid(format!(
                        "key {} is already revoked",
                        key.id
                    )));
                }
                keys::revoke(tx, &key.id, now())?;
                Ok(key)
            }
            n => Err(AdminError::Invalid(format!(
                "{} matches {n} keys; give the id of the one to revoke:\n{}",
                crate::domain::quoted(needle),
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
    })
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

/// The operator on one device of `org`, as the org's secret key would be: the [`Acting`]
/// the store's device operations take, so the command line runs the API's own.
fn operator_on(org: &str, reference: &str) -> Result<Acting, AdminError> {
    let org_id = OrgId::try_from(org.to_owned())
        .map_err(|e| AdminError::Invalid(format!("org name {e}")))?;
    Ok(Acting {
        credential: Credential {
            key_id: "operator".to_owned(),
            org_id,
            kind: KeyKind::Secret,
            device_id: None,
        },
        named: Some(reference.to_owned()),
    })
}

/// A device operation's outcome for the operator: `None` for a device the org does not
/// have (the one refusal an operator, who names a device of an existing org, can meet);
/// a failing database stays an error, so the write is rolled back.
fn found<T>(done: Result<T, NotActing>) -> Result<Option<T>, StoreError> {
    match done {
        Ok(value) => Ok(Some(value)),
        Err(NotActing::Store(err)) => Err(err),
        Err(NotActing::NotFound(_) | NotActing::OwnDeviceGone | NotActing::Unnamed) => Ok(None),
    }
}

/// One device of `org`, by its id or identifier, as `GET /api/v1/devices/{id}` reads it.
pub fn show_device(db: &Db, org: &str, reference: &str) -> Result<DeviceShown, AdminError> {
    require_org(db, org)?;
    let acting = operator_on(org, reference)?;
    let detail = db
        .read_sync(|conn| found(devices::detail(conn, &acting)))?
        .ok_or_else(|| missing_device(org, reference))?;
    Ok(DeviceShown {
        device: detail.device,
        labels: detail.labels,
    })
}

/// Deletes a device of `org` and everything of it, as `DELETE /api/v1/devices/{id}` does.
pub fn delete_device(db: &Db, org: &str, reference: &str) -> Result<devices::Device, AdminError> {
    require_org(db, org)?;
    let acting = operator_on(org, reference)?;
    db.write_sync(|tx| found(devices::delete(tx, &acting, now())))?
        .ok_or_else(|| missing_device(org, reference))
}

/// Issues a new key for a device of `org` and revokes its old ones, as
/// `POST /api/v1/devices/{id}/keys` does. The key is for showing once.
pub fn rekey_device(
    db: &Db,
    org: &str,
    reference: &str,
) -> Result<(devices::Device, ApiKey), AdminError> {
    require_org(db, org)?;
    let acting = operator_on(org, reference)?;
    let key = ApiKey::generate(KeyKind::Device);
    let rekeyed = db
        .write_sync(|tx| found(devices::rekey(tx, &acting, &key, now())))?
        .ok_or_else(|| missing_device(org, reference))?;
    Ok((rekeyed.device, key))
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
    // Named as both ways of giving it: a bad key often comes from the environment.
    let secret = preset(
        preset_secret,
        KeyKind::Secret,
        "--secret-key (or DEVREG_SECRET_KEY)",
    )?;
    let publishable = preset(
        preset_publishable,
        KeyKind::Publishable,
        "--publishable-key (or DEVREG_PUBLISHABLE_KEY)",
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
            return Ok::<_, StoreError>(Some(keys));
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
    // The random parts of a registration (the key digest, the identifier) land all over
    // their indexes; with the server's 16 MB cache a 10M-device seed spends most of its
    // time re-reading index pages. This command runs alone, so it may use 1 GiB.
    const SEED_CACHE_KIB: i64 = 1 << 20;
    require_org(db, org)?;
    db.write_sync(|tx| match tx.dialect() {
        crate::store::Dialect::Sqlite => {
            tx.batch(&format!("PRAGMA cache_size = -{SEED_CACHE_KIB}"))
        }
        crate::store::Dialect::Postgres => Ok(()),
    })?;
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
                    tx.execute(
                        "UPDATE devices SET status = 'inactive' WHERE id = ?1",
                        &[id],
                    )?;
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

/// A version to add from the command line: the manifest, with the size and digest read
/// from a local copy of the file when one is given.
pub struct VersionToAdd<'a> {
    pub org: &'a str,
    pub model_id: &'a str,
    pub name: Option<&'a str>,
    pub version: &'a str,
    pub format: &'a str,
    pub download_url: &'a str,
    pub file: Option<&'a std::path::Path>,
    pub size: Option<u64>,
    pub sha256: Option<&'a str>,
}

/// `devreg model add`: adds the model if the org has none of that id, then the version.
pub fn add_model_version(
    db: &Db,
    add: &VersionToAdd<'_>,
) -> Result<crate::store::models::ModelVersion, AdminError> {
    use crate::domain::{ModelId, Sha256Hex, VersionName};
    use crate::store::models;
    let invalid = AdminError::Invalid;
    let model_id =
        ModelId::try_from(add.model_id.to_owned()).map_err(|e| invalid(format!("MODEL_ID {e}")))?;
    let version = VersionName::try_from(add.version.to_owned())
        .map_err(|e| invalid(format!("--version {e}")))?;
    let (size, digest) = match add.file {
        Some(path) => {
            let (size, digest) = file_digest(path)?;
            (
                add.size.unwrap_or(size),
                add.sha256.map(str::to_owned).unwrap_or(digest),
            )
        }
        None => match (add.size, add.sha256) {
            (Some(size), Some(sha)) => (size, sha.to_owned()),
            _ => {
                return Err(invalid(
                    "give --file PATH (its size and SHA-256 are read from it), or both --size and \
                     --sha256"
                        .to_owned(),
                ));
            }
        },
    };
    let sha256 = Sha256Hex::try_from(digest).map_err(|e| invalid(format!("--sha256 {e}")))?;
    // The API's rule for a manifest's URL: an absolute http or https URL with a host.
    crate::domain::DownloadUrl::try_from(add.download_url.to_owned())
        .map_err(|e| invalid(format!("--url {e}")))?;
    let total_bytes = i64::try_from(size).map_err(|_| invalid("--size is too large".to_owned()))?;
    require_org(db, add.org)?;
    let files = match add.file.and_then(|p| p.file_name()) {
        Some(name) => serde_json::json!([{"path": name.to_string_lossy(), "size": size,
            "sha256": sha256.as_str()}])
        .to_string(),
        None => "[]".to_owned(),
    };
    db.write_sync(|tx| {
        let now = now();
        if !models::exists(tx, add.org, model_id.as_str())? {
            models::insert_model(tx, add.org, model_id.as_str(), add.name, now)?;
        }
        let new = models::NewVersion {
            model_id: model_id.as_str(),
            version: version.as_str(),
            format: add.format,
            total_bytes,
            sha256: sha256.as_str(),
            download_url: add.download_url,
            files_json: &files,
        };
        Ok(models::insert_version(tx, add.org, &new, now)?.expect("the model exists"))
    })
    .map_err(|e| match e {
        StoreError::Duplicate => invalid(format!(
            "model {} already has version {}",
            model_id.as_str(),
            version.as_str()
        )),
        other => other.into(),
    })
}

/// A file's size and SHA-256 (hex), read in pieces.
fn file_digest(path: &std::path::Path) -> Result<(u64, String), AdminError> {
    use sha2::Digest;
    use std::io::Read;
    let cannot =
        |e: std::io::Error| AdminError::Invalid(format!("cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(cannot)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let digest = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, digest))
}

/// A deployment to create from the command line.
pub struct DeployRequest<'a> {
    pub org: &'a str,
    pub model_id: &'a str,
    pub version: &'a str,
    pub devices: &'a [String],
    pub platforms: &'a [String],
    /// `KEY=VALUE` (or `KEY:VALUE`) pairs.
    pub labels: &'a [String],
    pub activation_policy: &'a str,
    pub delivery_mode: &'a str,
}

/// `devreg deploy`: what `POST /api/v1/deployments` does, with the same checks.
pub fn deploy(
    db: &Db,
    request: &DeployRequest<'_>,
) -> Result<
    (
        crate::store::deployments::Deployment,
        crate::store::deployments::Rollout,
    ),
    AdminError,
> {
    use crate::domain::{DeploymentTarget, PolicyName};
    use crate::store::deployments;
    let mut labels = serde_json::Map::new();
    for pair in request.labels {
        let (key, value) = pair
            .split_once('=')
            .or_else(|| pair.split_once(':'))
            .ok_or_else(|| AdminError::Invalid(format!("--label {pair:?} must be KEY=VALUE")))?;
        labels.insert(key.to_owned(), serde_json::Value::from(value));
    }
    // The same parse as the API's body, so the command accepts exactly what the API does.
    let target: DeploymentTarget = serde_json::from_value(serde_json::json!({
        "devices": request.devices, "platforms": request.platforms, "labels": labels,
    }))
    .map_err(|e| AdminError::Invalid(format!("the target is not valid: {e}")))?;
    for (flag, value) in [
        ("--activation-policy", request.activation_policy),
        ("--delivery-mode", request.delivery_mode),
    ] {
        PolicyName::try_from(value.to_owned())
            .map_err(|e| AdminError::Invalid(format!("{flag} {e}")))?;
    }
    require_org(db, request.org)?;
    let new = deployments::NewDeployment {
        model_id: request.model_id.to_owned(),
        version: request.version.to_owned(),
        devices: target.devices.into_iter().map(String::from).collect(),
        platforms: target.platforms.into_iter().map(String::from).collect(),
        labels: target.labels,
        activation_policy: request.activation_policy.to_owned(),
        delivery_mode: request.delivery_mode.to_owned(),
    };
    db.write_sync(|tx| deployments::create(tx, request.org, &new, now()))
        .map_err(|refusal| match refusal {
            deployments::Refusal::Store(e) => e.into(),
            other => AdminError::Invalid(other.to_string()),
        })
}

/// `devreg deployment show`: a deployment of any org by its id, with its rollout now.
pub fn show_deployment(
    db: &Db,
    id: &str,
) -> Result<
    (
        crate::store::deployments::Deployment,
        crate::store::deployments::Rollout,
    ),
    AdminError,
> {
    db.read_sync(|conn| crate::store::deployments::get_any(conn, id))?
        .ok_or_else(|| AdminError::Invalid(format!("no deployment {id:?} in this database")))
}

/// `devreg model rm`: deletes a version of a model (or the model with all its versions),
/// refused while an active deployment uses it.
pub fn remove_model(
    db: &Db,
    org: &str,
    model: &str,
    version: Option<&str>,
) -> Result<crate::store::registry::Deleted, AdminError> {
    use crate::store::registry::{self, Refusal};
    require_org(db, org)?;
    db.write_sync(|tx| registry::delete(tx, org, model, version, now()))
        .map_err(|refusal| match refusal {
            Refusal::Store(e) => e.into(),
            Refusal::InUse { deployments, .. } => AdminError::Invalid(format!(
                "{model} is in use by active deployment(s) {}; cancel them first (POST \
                 /api/v1/deployments/ID/cancel)",
                deployments.join(", ")
            )),
            other => AdminError::Invalid(other.to_string()),
        })
}

-- devreg's whole schema. Applied at every start inside one transaction; every statement
-- is idempotent. PRAGMA user_version records the schema version (src/store/engine/mod.rs).
-- Times are Unix seconds; JSON columns hold objects as text. schema.pg.sql declares the
-- same tables for PostgreSQL: a change goes into both (docs/development.md).

CREATE TABLE IF NOT EXISTS orgs (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS devices (
    -- Registration order: rowid alias, strictly increasing, so a list page is stable
    -- while registrations continue (new devices append at the end).
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    identifier      TEXT NOT NULL,
    platform        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    capabilities    TEXT NOT NULL DEFAULT '{}',
    metadata        TEXT NOT NULL DEFAULT '{}',
    metrics         TEXT,
    last_heartbeat  INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (org_id, identifier)
);

CREATE INDEX IF NOT EXISTS devices_by_org ON devices (org_id, seq);
CREATE INDEX IF NOT EXISTS devices_by_org_platform_status
    ON devices (org_id, platform, status, seq);
CREATE INDEX IF NOT EXISTS devices_by_org_status
    ON devices (org_id, status, seq);

-- How many devices each org has per platform and status, kept by the triggers below, so
-- a list's `total` is a sum over a few rows instead of a count over a million (schema
-- version 2; a version-1 database is counted once when it is opened).
CREATE TABLE IF NOT EXISTS device_counts (
    org_id      TEXT NOT NULL,
    platform    TEXT NOT NULL,
    status      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (org_id, platform, status)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS devices_count_insert AFTER INSERT ON devices BEGIN
    INSERT INTO device_counts (org_id, platform, status, n)
        VALUES (new.org_id, new.platform, new.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER IF NOT EXISTS devices_count_delete AFTER DELETE ON devices BEGIN
    UPDATE device_counts SET n = n - 1
        WHERE org_id = old.org_id AND platform = old.platform AND status = old.status;
END;

CREATE TRIGGER IF NOT EXISTS devices_count_update
    AFTER UPDATE OF org_id, platform, status ON devices
    WHEN old.org_id IS NOT new.org_id OR old.platform IS NOT new.platform
         OR old.status IS NOT new.status
BEGIN
    UPDATE device_counts SET n = n - 1
        WHERE org_id = old.org_id AND platform = old.platform AND status = old.status;
    INSERT INTO device_counts (org_id, platform, status, n)
        VALUES (new.org_id, new.platform, new.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Every credential: org secret keys, publishable keys and device keys. Only the SHA-256
-- digest of a key is stored; `prefix` is its first few characters, for people.
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    kind        TEXT NOT NULL CHECK (kind IN ('secret', 'publishable', 'device')),
    device_id   TEXT REFERENCES devices(id),
    prefix      TEXT NOT NULL,
    digest      BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    CHECK ((kind = 'device') = (device_id IS NOT NULL))
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS api_keys_by_org ON api_keys (org_id, kind);
CREATE INDEX IF NOT EXISTS api_keys_by_device ON api_keys (device_id) WHERE device_id IS NOT NULL;
-- A key is found by digest (authentication) or id; `devreg key revoke`'s prefix match
-- scans (substr() cannot use an index), so an index on the random prefixes only cost
-- every registration a random B-tree insert.
DROP INDEX IF EXISTS api_keys_by_prefix;

-- One row that GET /readyz rewrites: proof that a write transaction commits.
CREATE TABLE IF NOT EXISTS readiness (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL
);

-- Training rounds: an org asks its devices to take part in federated training. `number`
-- counts an org's rounds from 1 (the heartbeat's "Training round N"); it is allocated
-- inside the writer's transaction as the org's max + 1.
CREATE TABLE IF NOT EXISTS rounds (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    org_id              TEXT NOT NULL REFERENCES orgs(id),
    number              INTEGER NOT NULL,
    model_id            TEXT,
    -- A JSON array of platform tokens; '[]' means every platform.
    platforms           TEXT NOT NULL DEFAULT '[]',
    min_devices         INTEGER,
    status              TEXT NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
    -- Kept by the join that adds a participant, so reading a round counts nothing.
    participant_count   INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    ended_at            INTEGER,
    UNIQUE (org_id, number)
);

-- The heartbeat's pending-round lookup walks an org's active rounds oldest first here.
CREATE INDEX IF NOT EXISTS rounds_by_org_status ON rounds (org_id, status, number);

-- Which devices joined which round; the heartbeat probes it by primary key.
CREATE TABLE IF NOT EXISTS round_participants (
    round_id    TEXT NOT NULL REFERENCES rounds(id),
    device_id   TEXT NOT NULL REFERENCES devices(id),
    joined_at   INTEGER NOT NULL,
    PRIMARY KEY (round_id, device_id)
) WITHOUT ROWID;

-- The event log: every change to a device, key, deployment or round, written in the
-- same transaction as the change. `seq` counts each org's events from 1, strictly
-- increasing; event_seqs keeps the last one given, so retention deleting old events
-- never lets a number be given twice.
CREATE TABLE IF NOT EXISTS events (
    org_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    -- The device's server UUID, for events about one device.
    device_id   TEXT,
    at          INTEGER NOT NULL,
    -- A JSON object.
    data        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS event_seqs (
    org_id      TEXT PRIMARY KEY,
    last_seq    INTEGER NOT NULL
) WITHOUT ROWID;

-- A device's labels: at most 32 `key: value` pairs. `device_seq` is the device's
-- registration order, so a label filter walks (org, key, value) in list order.
CREATE TABLE IF NOT EXISTS device_labels (
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL,
    device_seq  INTEGER NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (device_id, key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS device_labels_by_value
    ON device_labels (org_id, key, value, device_seq);

-- Device tokens. Only SHA-256 digests are stored, as for keys.
-- Bootstrap tokens: minted with an org's secret key, traded by an app for a device's
-- first access and refresh tokens (registering the device if it is new).
CREATE TABLE IF NOT EXISTS bootstrap_tokens (
    digest      BLOB PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Access and refresh tokens. A family is everything one bootstrap started: each refresh
-- marks its refresh token used and adds a new pair to the family; presenting a used
-- refresh token again revokes the whole family. A token hangs off the device key that was
-- current when it was issued, so revoking that key (or deleting the device) ends it.
CREATE TABLE IF NOT EXISTS device_tokens (
    digest      BLOB PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    family_id   TEXT NOT NULL,
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key_id      TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL,
    -- A JSON array of the scopes asked for at bootstrap, echoed back; not enforced.
    scopes      TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS device_tokens_by_family ON device_tokens (family_id);
CREATE INDEX IF NOT EXISTS device_tokens_by_device ON device_tokens (device_id);
CREATE INDEX IF NOT EXISTS device_tokens_by_key ON device_tokens (key_id);

-- Telemetry: many times the heartbeat volume, so rows are small. Events point
-- at their device by its integer `seq` (not the 36-character UUID), their type and their
-- OTLP resource (or batch boot) by interned integers; the rest of an event is one
-- compact JSON object. Deleting a device deletes its telemetry (ON DELETE CASCADE).
CREATE TABLE IF NOT EXISTS telemetry_types (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS telemetry_resources (
    id          INTEGER PRIMARY KEY,
    device_seq  INTEGER NOT NULL REFERENCES devices(seq) ON DELETE CASCADE,
    digest      INTEGER NOT NULL,
    -- A JSON object: the OTLP resource's attributes, or a batch's boot id.
    attrs       TEXT NOT NULL,
    UNIQUE (device_seq, digest)
);

CREATE TABLE IF NOT EXISTS telemetry_events (
    -- Arrival order across the server: the `after` cursor of the listing.
    seq         INTEGER PRIMARY KEY,
    device_seq  INTEGER NOT NULL REFERENCES devices(seq) ON DELETE CASCADE,
    type_id     INTEGER NOT NULL,
    -- When the event happened, Unix milliseconds.
    at_ms       INTEGER NOT NULL,
    resource_id INTEGER,
    -- 64 bits of the SHA-256 of a batch event's event_id: the SDK's uploader resends
    -- events under a new batch_id after a failure, so events dedupe by their own id.
    event_key   INTEGER,
    body        TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS telemetry_events_by_device ON telemetry_events (device_seq, seq);
CREATE UNIQUE INDEX IF NOT EXISTS telemetry_events_dedupe
    ON telemetry_events (device_seq, event_key) WHERE event_key IS NOT NULL;

-- Per device: what is stored (for retention) and the summary retrieve shows.
CREATE TABLE IF NOT EXISTS telemetry_devices (
    device_seq      INTEGER PRIMARY KEY REFERENCES devices(seq) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    stored          INTEGER NOT NULL DEFAULT 0,
    received        INTEGER NOT NULL DEFAULT 0,
    dropped         INTEGER NOT NULL DEFAULT 0,
    last_event_ms   INTEGER,
    last_received_at INTEGER
);

CREATE TABLE IF NOT EXISTS telemetry_type_counts (
    device_seq      INTEGER NOT NULL REFERENCES devices(seq) ON DELETE CASCADE,
    type_id         INTEGER NOT NULL,
    received        INTEGER NOT NULL,
    last_event_ms   INTEGER NOT NULL,
    PRIMARY KEY (device_seq, type_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS telemetry_orgs (
    org_id  TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    stored  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Before the cascade removes a device's events, take them off its org's count.
CREATE TRIGGER IF NOT EXISTS telemetry_forget_device BEFORE DELETE ON devices BEGIN
    UPDATE telemetry_orgs
        SET stored = stored - coalesce(
            (SELECT stored FROM telemetry_devices WHERE device_seq = old.seq), 0)
        WHERE org_id = old.org_id;
END;

-- Batches seen in the last day, so one sent again is stored once and acked the same.
CREATE TABLE IF NOT EXISTS telemetry_batches (
    device_seq      INTEGER NOT NULL REFERENCES devices(seq) ON DELETE CASCADE,
    batch_key       INTEGER NOT NULL,
    acked_through   INTEGER,
    received_at     INTEGER NOT NULL,
    PRIMARY KEY (device_seq, batch_key)
) WITHOUT ROWID;
-- The sweep forgets batches past the day by this index (a tail append per batch).
CREATE INDEX IF NOT EXISTS telemetry_batches_by_time ON telemetry_batches (received_at);

-- Models and their versions: a version is an artifact manifest (devreg keeps
-- the manifest, not the file). `artifact_id` names the artifact to the SDKs.
CREATE TABLE IF NOT EXISTS models (
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    model_id    TEXT NOT NULL,
    name        TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, model_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS model_versions (
    org_id          TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    version         TEXT NOT NULL,
    artifact_id     TEXT NOT NULL UNIQUE,
    format          TEXT NOT NULL,
    total_bytes     INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    download_url    TEXT NOT NULL,
    -- A JSON array of {path, size, sha256}.
    files           TEXT NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (org_id, model_id, version),
    FOREIGN KEY (org_id, model_id) REFERENCES models (org_id, model_id)
) WITHOUT ROWID;

-- Deployments: a model version for the devices a target matches. The target's parts are
-- JSON ('[]' / '{}' when not given); store::deployments::MATCHES is the one rule.
CREATE TABLE IF NOT EXISTS deployments (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    org_id              TEXT NOT NULL REFERENCES orgs(id),
    model_id            TEXT NOT NULL,
    version             TEXT NOT NULL,
    target_devices      TEXT NOT NULL DEFAULT '[]',
    target_platforms    TEXT NOT NULL DEFAULT '[]',
    target_labels       TEXT NOT NULL DEFAULT '{}',
    activation_policy   TEXT NOT NULL,
    delivery_mode       TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    created_at          INTEGER NOT NULL,
    cancelled_at        INTEGER,
    FOREIGN KEY (org_id, model_id, version) REFERENCES model_versions (org_id, model_id, version)
);

CREATE INDEX IF NOT EXISTS deployments_by_org_status ON deployments (org_id, status, seq);

-- Each device's desired-state version: `digest` names the deployments its desired models
-- come from; when what a read computes differs, `version` goes up by one. `refreshed_version`
-- is the version its last assignments / control-sync fetch saw.
CREATE TABLE IF NOT EXISTS device_desired_state (
    device_id           TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    version             INTEGER NOT NULL,
    digest              TEXT NOT NULL,
    refreshed_version   INTEGER NOT NULL DEFAULT 0,
    changed_at          INTEGER NOT NULL
) WITHOUT ROWID;

-- Which devices fetched a desired state that carried a deployment (rollout `synced`).
CREATE TABLE IF NOT EXISTS deployment_syncs (
    deployment_id   TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    synced_at       INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, device_id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS deployment_syncs_by_device ON deployment_syncs (device_id);

-- What each device last reported per model (observed-state, or a sync's inventory),
-- normalised from the SDKs' shapes; `entry` is the report's own JSON object. A row is
-- rewritten only when the report changed it.
CREATE TABLE IF NOT EXISTS observed_models (
    device_id           TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    model_id            TEXT NOT NULL,
    status              TEXT NOT NULL,
    installed_version   TEXT,
    active_version      TEXT,
    failed              INTEGER NOT NULL,
    entry               TEXT NOT NULL,
    changed_at          INTEGER NOT NULL,
    PRIMARY KEY (device_id, model_id)
) WITHOUT ROWID;
-- A label filter `label=KEY` (present, any value) walks this in list order.
CREATE INDEX IF NOT EXISTS device_labels_by_key
    ON device_labels (org_id, key, device_seq);

-- How many devices of an org carry each label (key and value), and each key: kept by the
-- triggers below, so a list filtered by one label has its total without counting, and
-- a list filtered by several walks the rarest one.
CREATE TABLE IF NOT EXISTS label_counts (
    org_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (org_id, key, value)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS label_key_counts (
    org_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS device_labels_count_insert AFTER INSERT ON device_labels BEGIN
    INSERT INTO label_counts (org_id, key, value, n) VALUES (new.org_id, new.key, new.value, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO label_key_counts (org_id, key, n) VALUES (new.org_id, new.key, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Also fired by the deletes that ON DELETE CASCADE makes when a device goes.
CREATE TRIGGER IF NOT EXISTS device_labels_count_delete AFTER DELETE ON device_labels BEGIN
    UPDATE label_counts SET n = n - 1
        WHERE org_id = old.org_id AND key = old.key AND value = old.value;
    UPDATE label_key_counts SET n = n - 1 WHERE org_id = old.org_id AND key = old.key;
END;

CREATE TRIGGER IF NOT EXISTS device_labels_count_update AFTER UPDATE ON device_labels BEGIN
    UPDATE label_counts SET n = n - 1
        WHERE org_id = old.org_id AND key = old.key AND value = old.value;
    UPDATE label_key_counts SET n = n - 1 WHERE org_id = old.org_id AND key = old.key;
    INSERT INTO label_counts (org_id, key, value, n) VALUES (new.org_id, new.key, new.value, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO label_key_counts (org_id, key, n) VALUES (new.org_id, new.key, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- The connectivity the event log last announced for each device that is not `online`
-- (`stale` or `offline`; a new device starts `offline`). A device without a row was last
-- announced online. The heartbeat probes it by primary key inside its own UPDATE, so a
-- device coming back writes `device.connectivity_changed` in the heartbeat's transaction;
-- the connectivity sweep adds and moves rows as devices go quiet.
CREATE TABLE IF NOT EXISTS device_connectivity (
    device_id   TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('stale', 'offline'))
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS device_connectivity_by_state ON device_connectivity (state);

-- Events by device (the `device_id=` filter) and by time (retention trims the oldest).
CREATE INDEX IF NOT EXISTS events_by_device ON events (org_id, device_id, seq)
    WHERE device_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);

-- Where each org's retained log starts: events up to `trimmed_through` were removed by
-- retention, so a reader asking for events after an older seq is told it missed some.
CREATE TABLE IF NOT EXISTS event_retention (
    org_id          TEXT PRIMARY KEY,
    trimmed_through INTEGER NOT NULL
) WITHOUT ROWID;

-- Deleting a device finds its round participation here instead of scanning every round's.
CREATE INDEX IF NOT EXISTS round_participants_by_device ON round_participants (device_id);

-- Federated rounds. Everything below belongs to a round (ON DELETE CASCADE from
-- rounds), and what is a device's to the device.
--
-- What a round trains and how: the model version it starts from, its deadline, and the
-- plan's privacy settings. One row per round started since rounds carried plans; a
-- round without one has no base version, no deadline and the default plan. A round's plan id is its id.
CREATE TABLE IF NOT EXISTS round_plans (
    round_id        TEXT PRIMARY KEY REFERENCES rounds(id) ON DELETE CASCADE,
    base_version    TEXT,
    deadline_at     INTEGER,
    clip_norm       REAL NOT NULL,
    noise_sigma     REAL NOT NULL,
    max_steps       INTEGER NOT NULL,
    -- A JSON object of training hyperparameters, passed to devices as given.
    hyperparams     TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;

-- The participation id a device joined a round with through the federation paths (the
-- Python device agent makes its own and names it at upload).
CREATE TABLE IF NOT EXISTS round_participations (
    round_id            TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    device_id           TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    participation_id    TEXT NOT NULL,
    -- The capabilities object the device sent with its join.
    capabilities        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (round_id, device_id),
    UNIQUE (round_id, participation_id)
) WITHOUT ROWID;

-- An update being uploaded in parts. `part_count` URLs were handed out; completion joins
-- the parts in order, checks the envelope and deletes the upload whatever the outcome.
CREATE TABLE IF NOT EXISTS round_uploads (
    id                  TEXT PRIMARY KEY,
    round_id            TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    device_id           TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    participation_id    TEXT NOT NULL,
    part_count          INTEGER NOT NULL,
    -- Bytes stored over all parts, kept by each part's write to bound the upload.
    stored_bytes        INTEGER NOT NULL DEFAULT 0,
    -- The initiate request's `meta` object.
    meta                TEXT NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS round_uploads_by_round ON round_uploads (round_id, device_id);

-- One part's bytes; a part sent again replaces itself.
CREATE TABLE IF NOT EXISTS round_upload_parts (
    upload_id   TEXT NOT NULL REFERENCES round_uploads(id) ON DELETE CASCADE,
    part        INTEGER NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (upload_id, part)
) WITHOUT ROWID;

-- The updates a round accepted: at most one per device. The vectors themselves are not
-- kept: each is added into round_aggregates as it arrives.
CREATE TABLE IF NOT EXISTS round_updates (
    round_id        TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    upload_id       TEXT NOT NULL,
    sample_count    INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    PRIMARY KEY (round_id, device_id)
) WITHOUT ROWID;

-- FedAvg as the updates arrive: `weighted_sum` is the sum of sample_count × update
-- (little-endian f64s, `length` of them), `sample_count` the sum of the weights. When the
-- round completes, `aggregate` (the same encoding) is weighted_sum / sample_count.
CREATE TABLE IF NOT EXISTS round_aggregates (
    round_id        TEXT PRIMARY KEY REFERENCES rounds(id) ON DELETE CASCADE,
    length          INTEGER NOT NULL,
    participants    INTEGER NOT NULL,
    sample_count    INTEGER NOT NULL,
    weighted_sum    BLOB NOT NULL,
    aggregate       BLOB,
    completed_at    INTEGER
) WITHOUT ROWID;

-- issue 27 (experiments): A/B experiments over one model's versions, and the devices'
-- metric and event reports to them. `variants` is a JSON array of {id, name,
-- model_version, traffic_percentage, is_control}.
CREATE TABLE IF NOT EXISTS experiments (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    org_id              TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    model_id            TEXT NOT NULL,
    description         TEXT,
    status              TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'completed', 'cancelled')),
    primary_metric      TEXT,
    min_sample_size     INTEGER,
    confidence_level    REAL,
    variants            TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS experiments_by_org_status ON experiments (org_id, status, seq);

CREATE TABLE IF NOT EXISTS experiment_reports (
    seq             INTEGER PRIMARY KEY,
    experiment_id   TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    variant_id      TEXT,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    value           REAL,
    at              INTEGER NOT NULL,
    received_at     INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS experiment_reports_by_experiment ON experiment_reports (experiment_id, variant_id);
CREATE INDEX IF NOT EXISTS experiment_reports_by_device ON experiment_reports (device_id);
-- issue 27 (sdk2): an org's settings for its devices, set by the operator: the device
-- policy the SDKs read (`policy_updated_at` NULL: never set, the defaults answer) and the
-- machine-to-profile map iOS reads (`profiles`, a JSON object; NULL time: never set).
CREATE TABLE IF NOT EXISTS org_device_settings (
    org_id                  TEXT PRIMARY KEY,
    battery_threshold       INTEGER NOT NULL DEFAULT 20,
    network_policy          TEXT NOT NULL DEFAULT 'wifi_only',
    sampling_policy         TEXT,
    training_window         TEXT,
    policy_updated_at       INTEGER,
    profiles                TEXT NOT NULL DEFAULT '{}',
    profiles_ttl_seconds    INTEGER NOT NULL DEFAULT 86400,
    profiles_updated_at     INTEGER
) WITHOUT ROWID;

-- issue 27 (sdk2): the runtime planner's benchmark reports (POST /api/v2/runtime/benchmarks),
-- at most 10,000 per org, the oldest deleted first. `id` is a UUIDv7: it sorts by arrival.
-- `body` is the report as sent; the columns are what plans and listings read.
CREATE TABLE IF NOT EXISTS runtime_benchmarks (
    org_id              TEXT NOT NULL,
    id                  TEXT NOT NULL,
    device_id           TEXT,
    model               TEXT NOT NULL,
    capability          TEXT NOT NULL,
    engine              TEXT NOT NULL,
    platform            TEXT NOT NULL,
    success             INTEGER NOT NULL,
    tokens_per_second   REAL,
    ttft_ms             REAL,
    peak_memory_bytes   INTEGER,
    body                TEXT NOT NULL,
    received_at         INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS runtime_benchmarks_by_model
    ON runtime_benchmarks (org_id, model, platform);
-- issue 29 (sec): open uploads are counted per device to cap them, and the sweep deletes
-- those started before --upload-abandon-after.
CREATE INDEX IF NOT EXISTS round_uploads_by_device ON round_uploads (device_id);
CREATE INDEX IF NOT EXISTS round_uploads_by_created ON round_uploads (created_at);
-- issue 26 (artifacts): hosted model files. The bytes live outside the database, stored
-- by SHA-256 (src/artifacts/); these rows say which files a version has, which uploads
-- are in progress, and hold the key devreg signs its download and upload URLs with.
CREATE TABLE IF NOT EXISTS artifact_uploads (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    filename        TEXT NOT NULL,
    -- Set when the upload is finished: its size and digest as received.
    size            INTEGER,
    sha256          TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS artifact_files (
    org_id          TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    version         TEXT NOT NULL,
    path            TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    PRIMARY KEY (org_id, model_id, version, path)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS artifact_files_by_sha256 ON artifact_files (sha256);

CREATE TABLE IF NOT EXISTS artifact_signing_key (
    id              INTEGER PRIMARY KEY,
    secret          TEXT NOT NULL
);

-- issue 29 (hardening, sec2): retention prunes a device's per-type counts with its events
-- (store::telemetry::prune_unused), and an event type's name goes with the last count of
-- it, so neither outlives the events or the device (a device's deletion cascades to its
-- counts). SQLite has one writer, so no ingest can be interning the name meanwhile.
CREATE INDEX IF NOT EXISTS telemetry_type_counts_by_type ON telemetry_type_counts (type_id);
CREATE TRIGGER IF NOT EXISTS telemetry_forget_type AFTER DELETE ON telemetry_type_counts
WHEN NOT EXISTS (SELECT 1 FROM telemetry_type_counts WHERE type_id = old.type_id) BEGIN
    DELETE FROM telemetry_types WHERE id = old.type_id;
END;

-- issue 26 (delivery): digests a deletion left unnamed by every version of their org; the
-- sweep removes each from storage unless a hosted file or upload names it again.
CREATE TABLE IF NOT EXISTS artifact_released (
    sha256          TEXT PRIMARY KEY,
    released_at     INTEGER NOT NULL
) WITHOUT ROWID;

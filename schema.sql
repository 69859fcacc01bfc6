-- devreg's whole schema. Applied at every start inside one transaction; every statement
-- is idempotent. PRAGMA user_version records the schema version (src/store/mod.rs).
-- Times are Unix seconds; JSON columns hold objects as text.

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
CREATE INDEX IF NOT EXISTS api_keys_by_prefix ON api_keys (prefix);

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

-- A label filter `label=KEY` (present, any value) walks this in list order.
CREATE INDEX IF NOT EXISTS device_labels_by_key
    ON device_labels (org_id, key, device_seq);

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

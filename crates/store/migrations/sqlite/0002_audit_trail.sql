-- Signed checkpoints over the audit chain head, and the delivery cursor of each SIEM
-- sink (the trail itself is the sinks' durable spool).

CREATE TABLE audit_checkpoints (
    seq         INTEGER PRIMARY KEY,
    time_ms     INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    key_name    TEXT    NOT NULL,
    key_version INTEGER NOT NULL,
    statement   TEXT    NOT NULL,
    signature   BLOB    NOT NULL
);

CREATE TABLE audit_sinks (
    name          TEXT PRIMARY KEY,
    delivered_seq INTEGER NOT NULL,
    owner         TEXT,
    lease_ms      INTEGER NOT NULL DEFAULT 0,
    dropped       INTEGER NOT NULL DEFAULT 0,
    updated_ms    INTEGER NOT NULL
);

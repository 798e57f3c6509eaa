-- Signed checkpoints over the audit chain head, and the delivery cursor of each SIEM
-- sink (the trail itself is the sinks' durable spool).

CREATE TABLE audit_checkpoints (
    seq         BIGINT PRIMARY KEY,
    time_ms     BIGINT NOT NULL,
    hash        BYTEA  NOT NULL,
    key_name    TEXT   NOT NULL,
    key_version BIGINT NOT NULL,
    statement   TEXT   NOT NULL,
    signature   BYTEA  NOT NULL
);

CREATE TABLE audit_sinks (
    name          TEXT PRIMARY KEY,
    delivered_seq BIGINT NOT NULL,
    owner         TEXT,
    lease_ms      BIGINT NOT NULL DEFAULT 0,
    dropped       BIGINT NOT NULL DEFAULT 0,
    updated_ms    BIGINT NOT NULL
);

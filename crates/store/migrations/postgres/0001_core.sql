-- Core schema: seal, wrapped secrets, key rings, tokens, audit chain.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE seal (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    kind        TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    sealed_root BYTEA    NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    wrapped    BYTEA    NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE keys (
    name                   TEXT PRIMARY KEY,
    id                     TEXT    NOT NULL UNIQUE,
    key_type               TEXT    NOT NULL,
    state                  TEXT    NOT NULL,
    exportable             BIGINT NOT NULL,
    latest_version         BIGINT NOT NULL,
    min_decryption_version BIGINT NOT NULL,
    min_encryption_version BIGINT NOT NULL,
    auto_rotate_secs       BIGINT,
    deletion_due_ms        BIGINT,
    created_ms             BIGINT NOT NULL,
    updated_ms             BIGINT NOT NULL,
    rotated_ms             BIGINT NOT NULL,
    destroyed_ms           BIGINT
);

CREATE TABLE key_versions (
    key_id     TEXT    NOT NULL,
    version    BIGINT NOT NULL,
    wrapped    BYTEA,
    public_key BYTEA,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA    NOT NULL,
    name        TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT,
    revoked_ms  BIGINT
);

CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    time_ms   BIGINT NOT NULL,
    body      TEXT    NOT NULL,
    prev_hash BYTEA    NOT NULL,
    hash      BYTEA    NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ms);

-- Core schema: seal, wrapped secrets, key rings, tokens, audit chain.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE seal (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    kind        TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    sealed_root BLOB    NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    wrapped    BLOB    NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE keys (
    name                   TEXT PRIMARY KEY,
    id                     TEXT    NOT NULL UNIQUE,
    key_type               TEXT    NOT NULL,
    state                  TEXT    NOT NULL,
    exportable             INTEGER NOT NULL,
    latest_version         INTEGER NOT NULL,
    min_decryption_version INTEGER NOT NULL,
    min_encryption_version INTEGER NOT NULL,
    auto_rotate_secs       INTEGER,
    deletion_due_ms        INTEGER,
    created_ms             INTEGER NOT NULL,
    updated_ms             INTEGER NOT NULL,
    rotated_ms             INTEGER NOT NULL,
    destroyed_ms           INTEGER
);

CREATE TABLE key_versions (
    key_id     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    wrapped    BLOB,
    public_key BLOB,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    secret_hash BLOB    NOT NULL,
    name        TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER,
    revoked_ms  INTEGER
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    time_ms   INTEGER NOT NULL,
    body      TEXT    NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ms);

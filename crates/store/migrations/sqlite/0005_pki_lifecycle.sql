-- Certificate pinning, mutual-TLS bindings and the certificate lifecycle watch.
--
-- pki_pin_sets: one RFC 7469 pin set per service (pins as a JSON array of
--   pin-sha256="..." strings).
-- pki_mtls_bindings: a client certificate name (CN, SAN DNS or SAN URI) mapped to a
--   token policy: either the live policy of a token (token_id) or an explicit one.
-- pki_watch: certificate files and TLS endpoints to watch for expiry.
-- pki_watch_certs: what the last check of each watch found.
-- pki_expiry_alerts: expiry thresholds already alerted, once per certificate.

CREATE TABLE pki_pin_sets (
    service    TEXT PRIMARY KEY,
    pins       TEXT    NOT NULL,
    updated_by TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE pki_mtls_bindings (
    id         TEXT PRIMARY KEY,
    subject    TEXT    NOT NULL UNIQUE,
    token_id   TEXT,
    policy     TEXT,
    created_by TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE pki_watch (
    id         TEXT PRIMARY KEY,
    kind       TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    origin     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (kind, target)
);

CREATE TABLE pki_watch_certs (
    source       TEXT    NOT NULL,
    serial       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    not_before_ms INTEGER NOT NULL,
    not_after_ms INTEGER NOT NULL,
    checked_ms   INTEGER NOT NULL,
    PRIMARY KEY (source, serial)
);

CREATE TABLE pki_expiry_alerts (
    source         TEXT    NOT NULL,
    serial         TEXT    NOT NULL,
    threshold_days INTEGER NOT NULL,
    raised_ms      INTEGER NOT NULL,
    PRIMARY KEY (source, serial, threshold_days)
);

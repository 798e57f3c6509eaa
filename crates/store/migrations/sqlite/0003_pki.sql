-- Certificate authority: the CA hierarchy (root and intermediates), every issued
-- certificate with its revocation state, and the last CRL of each CA.
-- Private keys live wrapped by the root key in `secrets` (names in key_secret).

CREATE TABLE pki_cas (
    name        TEXT PRIMARY KEY,
    kind        TEXT    NOT NULL,
    parent      TEXT,
    serial      TEXT    NOT NULL,
    cert_pem    TEXT    NOT NULL,
    key_secret  TEXT    NOT NULL,
    is_default  INTEGER NOT NULL,
    not_after_ms INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE pki_certs (
    serial         TEXT PRIMARY KEY,
    issuer         TEXT    NOT NULL,
    profile        TEXT    NOT NULL,
    names          TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    requester      TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    not_before_ms  INTEGER NOT NULL,
    not_after_ms   INTEGER NOT NULL,
    cert_der       BLOB    NOT NULL,
    key_stored     INTEGER NOT NULL,
    created_ms     INTEGER NOT NULL,
    revoked_ms     INTEGER,
    revoke_reason  INTEGER
);
CREATE INDEX pki_certs_created ON pki_certs (created_ms, serial);
CREATE INDEX pki_certs_revoked ON pki_certs (issuer, revoked_ms);

CREATE TABLE pki_crls (
    issuer         TEXT PRIMARY KEY,
    number         INTEGER NOT NULL,
    this_update_ms INTEGER NOT NULL,
    next_update_ms INTEGER NOT NULL,
    der            BLOB    NOT NULL
);

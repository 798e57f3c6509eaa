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
    is_default  BIGINT NOT NULL,
    not_after_ms BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE pki_certs (
    serial         TEXT PRIMARY KEY,
    issuer         TEXT    NOT NULL,
    profile        TEXT    NOT NULL,
    names          TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    requester      TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    not_before_ms  BIGINT NOT NULL,
    not_after_ms   BIGINT NOT NULL,
    cert_der       BYTEA    NOT NULL,
    key_stored     BIGINT NOT NULL,
    created_ms     BIGINT NOT NULL,
    revoked_ms     BIGINT,
    revoke_reason  BIGINT
);
CREATE INDEX pki_certs_created ON pki_certs (created_ms, serial);
CREATE INDEX pki_certs_revoked ON pki_certs (issuer, revoked_ms);

CREATE TABLE pki_crls (
    issuer         TEXT PRIMARY KEY,
    number         BIGINT NOT NULL,
    this_update_ms BIGINT NOT NULL,
    next_update_ms BIGINT NOT NULL,
    der            BYTEA    NOT NULL
);

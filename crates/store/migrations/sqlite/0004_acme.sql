-- ACME (RFC 8555): nonces (single use, shared by every node), accounts, orders, their
-- authorizations (one http-01 challenge each) and the certificates issued to accounts.

CREATE TABLE acme_nonces (
    nonce      TEXT    PRIMARY KEY,
    expires_ms INTEGER NOT NULL
);

CREATE TABLE acme_accounts (
    id         TEXT    PRIMARY KEY,
    thumbprint TEXT    NOT NULL UNIQUE,
    jwk        TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    contact    TEXT    NOT NULL,
    tos        INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE acme_orders (
    id          TEXT    PRIMARY KEY,
    account_id  TEXT    NOT NULL REFERENCES acme_accounts(id),
    status      TEXT    NOT NULL,
    names       TEXT    NOT NULL,
    expires_ms  INTEGER NOT NULL,
    error       TEXT,
    cert_id     TEXT,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders(account_id);

CREATE TABLE acme_authzs (
    id           TEXT    PRIMARY KEY,
    order_id     TEXT    NOT NULL REFERENCES acme_orders(id),
    account_id   TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    token        TEXT    NOT NULL,
    chall_status TEXT    NOT NULL,
    validated_ms INTEGER,
    error        TEXT,
    expires_ms   INTEGER NOT NULL
);
CREATE INDEX acme_authzs_order ON acme_authzs(order_id);

CREATE TABLE acme_certs (
    id         TEXT    PRIMARY KEY,
    serial     TEXT    NOT NULL,
    fingerprint TEXT   NOT NULL UNIQUE,
    account_id TEXT    NOT NULL,
    order_id   TEXT    NOT NULL,
    chain_pem  TEXT    NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);

-- OAuth 2.0 authorization server (issue 6): registered clients, client assertion ids
-- already used (replay refusal), and revoked access tokens.
--
-- A client authenticates with a secret (stored only as an Argon2id hash in PHC form)
-- or with private_key_jwt (its public keys as JWKS text, or a jwks_uri we fetch).
-- Scopes are space-separated, as OAuth writes them.

CREATE TABLE oauth_clients (
    id             TEXT PRIMARY KEY,
    name           TEXT    NOT NULL,
    auth_method    TEXT    NOT NULL,
    secret_hash    TEXT,
    jwks           TEXT,
    jwks_uri       TEXT,
    insecure_http  BIGINT  NOT NULL,
    scopes         TEXT    NOT NULL,
    audience       TEXT    NOT NULL,
    token_ttl_s    BIGINT  NOT NULL,
    enabled        BIGINT  NOT NULL,
    created_by     TEXT    NOT NULL,
    created_ms     BIGINT  NOT NULL,
    updated_by     TEXT    NOT NULL,
    updated_ms     BIGINT  NOT NULL
);

-- Client assertion jtis seen, kept until the assertion expires (plus leeway); the
-- primary key makes a replay fail on insert, also across nodes.
CREATE TABLE oauth_assertion_jtis (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    exp_ms     BIGINT  NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_assertion_jtis_exp ON oauth_assertion_jtis (exp_ms);

-- Revoked access tokens by jti, kept until the token would have expired anyway.
CREATE TABLE oauth_revoked (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    exp_ms      BIGINT  NOT NULL,
    revoked_ms  BIGINT  NOT NULL
);
CREATE INDEX oauth_revoked_exp ON oauth_revoked (exp_ms);

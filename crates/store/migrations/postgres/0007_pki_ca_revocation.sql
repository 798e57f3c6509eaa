-- Intermediate CAs can be revoked (a compromised or retired intermediate): when and why.
-- The root's CRL lists them; certificates they issued report the CA's revocation.

ALTER TABLE pki_cas ADD COLUMN revoked_ms BIGINT;
ALTER TABLE pki_cas ADD COLUMN revoke_reason BIGINT;

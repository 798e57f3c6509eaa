-- Scheduled vulnerability scans: the targets (lockfiles or folders on the server, under
-- [vuln] allowed_roots, with a cron schedule or a period) and every result, whose
-- findings are kept as JSON so that each run can be compared with the one before.

CREATE TABLE vuln_targets (
    id         TEXT PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    paths      TEXT    NOT NULL,
    schedule   TEXT    NOT NULL,
    next_ms    BIGINT  NOT NULL,
    created_by TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL
);

CREATE TABLE vuln_results (
    id          TEXT PRIMARY KEY,
    target_id   TEXT    NOT NULL,
    started_ms  BIGINT  NOT NULL,
    finished_ms BIGINT  NOT NULL,
    findings    TEXT    NOT NULL,
    packages    BIGINT  NOT NULL,
    total       BIGINT  NOT NULL,
    new_count   BIGINT  NOT NULL,
    fixed_count BIGINT  NOT NULL,
    error       TEXT
);

CREATE INDEX vuln_results_by_target ON vuln_results (target_id, id);

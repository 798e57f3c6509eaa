-- Scheduled vulnerability scans: the targets (lockfiles or folders on the server, under
-- [vuln] allowed_roots, with a cron schedule or a period) and every result, whose
-- findings are kept as JSON so that each run can be compared with the one before.

CREATE TABLE vuln_targets (
    id         TEXT PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    paths      TEXT    NOT NULL,
    schedule   TEXT    NOT NULL,
    next_ms    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE vuln_results (
    id          TEXT PRIMARY KEY,
    target_id   TEXT    NOT NULL,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL,
    findings    TEXT    NOT NULL,
    packages    INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    new_count   INTEGER NOT NULL,
    fixed_count INTEGER NOT NULL,
    error       TEXT
);

CREATE INDEX vuln_results_by_target ON vuln_results (target_id, id);

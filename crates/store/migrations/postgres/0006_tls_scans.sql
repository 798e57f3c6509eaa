-- Scheduled TLS scans: the targets (from `[[scan.tls]]` in the configuration, or made
-- through /v1/pki/scans) and every result, kept as the scanner's JSON report.

CREATE TABLE tls_scan_targets (
    id         TEXT PRIMARY KEY,
    target     TEXT    NOT NULL,
    sni        TEXT,
    profile    TEXT    NOT NULL,
    every_s    BIGINT  NOT NULL,
    origin     TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    next_ms    BIGINT  NOT NULL,
    ca_file    TEXT
);

CREATE TABLE tls_scan_results (
    id        TEXT PRIMARY KEY,
    target_id TEXT    NOT NULL,
    time_ms   BIGINT  NOT NULL,
    verdict   TEXT    NOT NULL,
    report    TEXT    NOT NULL
);

CREATE INDEX tls_scan_results_by_target ON tls_scan_results (target_id, time_ms);

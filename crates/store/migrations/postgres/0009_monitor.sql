-- Security monitoring (issue 7): alerts raised by detection, suppressions of known
-- false positives, the context detection reads (user directory, patient flags, care
-- relationships), and how far each followed input has been read.
--
-- An alert groups every finding of one rule with one group key while it is open and
-- its last finding is within `[monitor] group_window`; `events` keeps the first
-- triggering events (at most 20) as JSON. `change_seq` orders every change to an
-- alert (made under the store's writer lock), so the live stream can resume after a
-- given change.

CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    rule_id     TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    severity_n  BIGINT  NOT NULL,
    tags        TEXT    NOT NULL,
    group_key   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    first_seen  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,
    count       BIGINT  NOT NULL,
    events      TEXT    NOT NULL,
    note        TEXT,
    acked_by    TEXT,
    acked_ms    BIGINT,
    closed_by   TEXT,
    closed_ms   BIGINT,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    change_seq  BIGINT  NOT NULL
);
CREATE INDEX alerts_open_group ON alerts (rule_id, group_key, status);
CREATE INDEX alerts_change ON alerts (change_seq);

CREATE TABLE suppressions (
    id          TEXT PRIMARY KEY,
    rule_id     TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    expires_ms  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);

CREATE TABLE monitor_context (
    kind        TEXT PRIMARY KEY,
    document    TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL,
    updated_ms  BIGINT  NOT NULL
);

-- `path` is a file path, or `audit-trail` for the audit trail follower (offset = the
-- last sequence number fed).
CREATE TABLE tail_positions (
    path        TEXT PRIMARY KEY,
    dev         BIGINT  NOT NULL,
    inode       BIGINT  NOT NULL,
    offset_b    BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL
);

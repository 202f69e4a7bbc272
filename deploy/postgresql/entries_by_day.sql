-- The collector's entries table partitioned by day (PostgreSQL 11 or later).
--
-- Run once on an empty collector database, before the first `checkpoint collector` starts:
--     psql "$DATABASE_URL" -f entries_by_day.sql
-- The collector finds the table and uses it as it is; it creates only what is missing.
--
-- The columns are those the collector creates itself (sync/collector_store.py); only the key
-- differs: PostgreSQL wants the partition column in it, so it is (id, occurred_at). An entry
-- never changes its occurred_at (the gate's time, however wrong), so a resent entry still meets
-- its stored copy and is stored once.
--
-- Partitions are made ahead by entries_add_days(); call it daily (cron, systemd timer,
-- pg_cron), e.g. SELECT entries_add_days(current_date, 7). Rows of a day without its partition,
-- and entries of gates whose clock was far off (1970), go to entries_default; a day's partition
-- cannot be created while entries_default holds rows of that day, hence "ahead".
-- Retention is DROP TABLE entries_YYYY_MM_DD: instant, no vacuum.

CREATE TABLE entries (
    id                 varchar(36) NOT NULL,
    seq                bigint      NOT NULL,
    gate               varchar     NOT NULL,
    site               varchar     NOT NULL,
    lane               varchar     NOT NULL,
    direction          varchar     NOT NULL,
    occurred_at        timestamptz NOT NULL,
    clock_synced       boolean     NOT NULL,
    boot_id            varchar     NOT NULL,
    monotonic_ns       bigint      NOT NULL,
    code_format        varchar     NOT NULL,
    code_check         varchar     NOT NULL,
    code_status        varchar     NOT NULL,
    subject            varchar,
    subject_label      varchar,
    payload_digest     varchar,
    temperature_c      double precision,
    temperature_source varchar,
    remeasured         boolean     NOT NULL,
    decision           varchar     NOT NULL,
    reasons            json        NOT NULL,
    override_by        varchar,
    override_reason    varchar,
    confirmed_by       varchar,
    revision           integer     NOT NULL,
    sent_at            timestamptz NOT NULL,
    received_at        timestamptz NOT NULL,
    corrected_at       timestamptz,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX ix_entries_occurred_at ON entries (occurred_at);
-- Who went in and out (`checkpoint trace | contacts`): a person's passages, and a gate's.
CREATE INDEX ix_entries_subject ON entries (subject, occurred_at);
CREATE INDEX ix_entries_site_gate_occurred_at ON entries (site, gate, occurred_at);

CREATE TABLE entries_default PARTITION OF entries DEFAULT;

-- Partitions entries_YYYY_MM_DD for `days` days from `first_day` (UTC days); existing ones
-- are left alone.
CREATE FUNCTION entries_add_days(first_day date, days integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    day date;
BEGIN
    FOR i IN 0 .. days - 1 LOOP
        day := first_day + i;
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF entries FOR VALUES FROM (%L) TO (%L)',
            'entries_' || to_char(day, 'YYYY_MM_DD'),
            day::timestamp AT TIME ZONE 'UTC',
            (day + 1)::timestamp AT TIME ZONE 'UTC'
        );
    END LOOP;
END
$$;

SELECT entries_add_days(current_date - 1, 9);

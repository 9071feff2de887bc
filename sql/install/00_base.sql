-- electric_sync install script (assembled from sql/install/*.sql in name order).
\echo Use "CREATE EXTENSION electric_sync" to load this file. \quit

-- Worker state as published in shared memory.
CREATE FUNCTION electric_sync._worker_info(
    OUT pid integer, OUT state text, OUT http_address text, OUT http_port integer,
    OUT processed_lsn pg_lsn, OUT changes_processed bigint, OUT transactions_processed bigint,
    OUT last_error text)
RETURNS record
AS 'MODULE_PATHNAME', 'es_worker_info' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION electric_sync._worker_info() FROM PUBLIC;

-- Test hook: the worker's next n batches with changes fail before their commit.
CREATE FUNCTION electric_sync._debug_fail_batches(n integer) RETURNS void
AS 'MODULE_PATHNAME', 'es_debug_fail_batches' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION electric_sync._debug_fail_batches(integer) FROM PUBLIC;

-- The worker: its state, slot, confirmed LSN, lag and HTTP address.
CREATE VIEW electric_sync.worker_status AS
SELECT w.pid,
       w.state,
       current_setting('electric_sync.slot_name') AS slot_name,
       s.confirmed_flush_lsn AS confirmed_lsn,
       w.processed_lsn,
       CASE WHEN s.confirmed_flush_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint END AS lag_bytes,
       CASE WHEN s.restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint END AS retained_wal_bytes,
       CASE WHEN w.http_port > 0 THEN 'http://' || w.http_address || ':' || w.http_port END AS http_address,
       w.changes_processed,
       w.transactions_processed,
       w.last_error
FROM electric_sync._worker_info() w
LEFT JOIN pg_replication_slots s ON s.slot_name = current_setting('electric_sync.slot_name');

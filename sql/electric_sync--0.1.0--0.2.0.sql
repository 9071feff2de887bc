-- electric_sync 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION electric_sync UPDATE" to load this file. \quit

-- Test hook: the worker's next n batches with changes fail before their commit.
CREATE FUNCTION electric_sync._debug_fail_batches(n integer) RETURNS void
AS 'MODULE_PATHNAME', 'es_debug_fail_batches' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION electric_sync._debug_fail_batches(integer) FROM PUBLIC;

-- Snapshot chunk bodies: out of line, uncompressed (applies to bodies written from now on).
ALTER TABLE electric_sync.shape_snapshot_chunks ALTER COLUMN body SET STORAGE EXTERNAL;

-- Shape logs become segments (several entries per row); every existing entry becomes a
-- segment of one entry, so offsets, chunk boundaries and xids are kept.
ALTER TABLE electric_sync.shape_log RENAME TO shape_log_v1;
ALTER INDEX electric_sync.shape_log_pkey RENAME TO shape_log_v1_pkey;

CREATE TABLE electric_sync.shape_log (
    shape_id bigint NOT NULL,
    lsn bigint NOT NULL,
    op integer NOT NULL,
    lsns bigint[] NOT NULL,
    ops integer[] NOT NULL,
    xids bigint[] NOT NULL,
    chunk_ends boolean[] NOT NULL,
    entries text[] NOT NULL,
    bytes bigint NOT NULL,  -- total length of the entries
    PRIMARY KEY (shape_id, lsn, op)
) WITH (toast_tuple_target = 8160);

INSERT INTO electric_sync.shape_log (shape_id, lsn, op, lsns, ops, xids, chunk_ends, entries, bytes)
SELECT shape_id, lsn, op, ARRAY[lsn], ARRAY[op], ARRAY[xid], ARRAY[chunk_end], ARRAY[entry], length(entry)
FROM electric_sync.shape_log_v1;

DROP TABLE electric_sync.shape_log_v1;

CREATE VIEW electric_sync.shape_log_entries AS
SELECT l.shape_id, u.lsn, u.op, u.xid, u.chunk_end, u.entry
FROM electric_sync.shape_log l,
     unnest(l.lsns, l.ops, l.xids, l.chunk_ends, l.entries) AS u(lsn, op, xid, chunk_end, entry);

-- Shape logs (read path). Entries are stored already encoded as the JSON message the client
-- receives, so serving is a read and a concatenation. Written only by the worker (log) and by
-- the worker's snapshot connections (snapshot chunks).

-- Snapshot chunks: chunk n of a shape's initial snapshot ends at offset 0_<n>. body is the
-- comma-separated JSON messages of the chunk (no brackets).
CREATE TABLE electric_sync.shape_snapshot_chunks (
    shape_id bigint NOT NULL,
    chunk_no integer NOT NULL,
    row_count integer NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (shape_id, chunk_no)
);
-- Bodies are up to electric_sync.chunk_bytes (10 MB) of JSON: stored out of line without
-- compression (pglz would cost about a third of a big initial sync; bench/initial_sync.sh).
ALTER TABLE electric_sync.shape_snapshot_chunks ALTER COLUMN body SET STORAGE EXTERNAL;

-- Live log, stored as segments: the entries one worker batch appended to one shape, in offset
-- order (one row for several entries: a row and an index entry per change were most of the
-- routing cost; bench/routing.sh). lsn, op: the offset <lsn>_<op> of the segment's first entry.
-- Per entry i: lsns[i], ops[i] (its offset), xids[i] (kept until the shape's snapshot is known:
-- entries of transactions visible to the snapshot are then removed), chunk_ends[i] (last entry
-- of a log chunk: stable chunk boundaries for caching), entries[i] (the encoded message).
-- Segments stay below toast_tuple_target (inline, uncompressed); a single larger entry is
-- toasted as usual. Read them one row per entry through electric_sync.shape_log_entries.
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

CREATE VIEW electric_sync.shape_log_entries AS
SELECT l.shape_id, u.lsn, u.op, u.xid, u.chunk_end, u.entry
FROM electric_sync.shape_log l,
     unnest(l.lsns, l.ops, l.xids, l.chunk_ends, l.entries) AS u(lsn, op, xid, chunk_end, entry);

-- The log store's SQL (the engine writes segments itself, src/engine/log_store.cpp).
-- The one reader of a shape's log: one row per entry, in offset order. The engine (over SPI)
-- and the pool connections (over libpq) both read through it.
CREATE FUNCTION electric_sync._shape_log_read(shape bigint)
RETURNS TABLE (lsn bigint, op integer, chunk_end boolean, entry text)
LANGUAGE sql STABLE AS $$
    SELECT e.lsn, e.op, e.chunk_end, e.entry FROM electric_sync.shape_log_entries e
     WHERE e.shape_id = shape ORDER BY e.lsn, e.op
$$;

-- Is the transaction with 32-bit xid visible to the snapshot (xmin, xmax, xip)? The xid is
-- widened to the 64-bit xid nearest xmax (wraparound-safe), then the snapshot's rule applies:
-- visible when below xmin, or below xmax and not listed as running. NULL when xmax is NULL.
CREATE FUNCTION electric_sync._xid_visible(xmin bigint, xmax bigint, xip bigint[], xid bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT f.fx < xmin OR (f.fx < xmax AND f.fx <> ALL (coalesce(xip, '{}')))
      FROM (SELECT CASE WHEN w.raw > xmax + 2147483648 THEN w.raw - 4294967296
                        WHEN w.raw + 2147483648 < xmax THEN w.raw + 4294967296
                        ELSE w.raw END AS fx
              FROM (SELECT (((xmax >> 32) << 32) | xid) AS raw) w) f
$$;

-- Once a shape's snapshot is known, removes from its log the entries of transactions the
-- snapshot already saw (_xid_visible: logged xids are 32-bit). The shape's segments are
-- rewritten as one segment of the surviving entries (few: only what was logged while its
-- snapshot ran). No runtime row, or a NULL bound: every entry stays.
CREATE FUNCTION electric_sync._shape_log_apply_snapshot(shape bigint) RETURNS void
LANGUAGE sql AS $$
    WITH seg AS (DELETE FROM electric_sync.shape_log WHERE shape_id = shape RETURNING *),
    e AS (SELECT u.* FROM seg, unnest(seg.lsns, seg.ops, seg.xids, seg.chunk_ends, seg.entries)
            AS u(lsn, op, xid, chunk_end, entry)),
    r AS (SELECT snapshot_xmin, snapshot_xmax, coalesce(snapshot_xip, '{}') AS xip
            FROM electric_sync.shape_runtime WHERE shape_id = shape),
    keep AS (SELECT e.* FROM e LEFT JOIN r ON true
              WHERE NOT coalesce(electric_sync._xid_visible(r.snapshot_xmin, r.snapshot_xmax, r.xip, e.xid), false))
    INSERT INTO electric_sync.shape_log (shape_id, lsn, op, lsns, ops, xids, chunk_ends, entries, bytes)
    SELECT shape, (array_agg(lsn ORDER BY lsn, op))[1], (array_agg(op ORDER BY lsn, op))[1],
           array_agg(lsn ORDER BY lsn, op), array_agg(op ORDER BY lsn, op), array_agg(xid ORDER BY lsn, op),
           array_agg(chunk_end ORDER BY lsn, op), array_agg(entry ORDER BY lsn, op), sum(length(entry))
      FROM keep HAVING count(*) > 0
$$;
REVOKE ALL ON FUNCTION electric_sync._shape_log_read(bigint), electric_sync._shape_log_apply_snapshot(bigint),
                       electric_sync._xid_visible(bigint, bigint, bigint[], bigint) FROM PUBLIC;

-- The worker's progress: every transaction with a commit LSN at or below processed_lsn is in
-- the shape logs. Committed in the same transaction as the log entries (exactly once).
CREATE TABLE electric_sync.engine_state (
    id integer PRIMARY KEY CHECK (id = 1),
    processed_lsn pg_lsn NOT NULL DEFAULT '0/0'
);
INSERT INTO electric_sync.engine_state VALUES (1, '0/0');

-- Per-shape runtime state of the read path: the snapshot (taken by the worker's snapshot
-- connection) and whether the engine has filtered the log against it (log_ready).
CREATE TABLE electric_sync.shape_runtime (
    shape_id bigint PRIMARY KEY,
    snapshot_xmin bigint,
    snapshot_xmax bigint,
    snapshot_xip bigint[],
    snapshot_lsn pg_lsn,
    snapshot_chunks integer,
    snapshot_rows bigint,
    snapshot_done boolean NOT NULL DEFAULT false,
    log_ready boolean NOT NULL DEFAULT false
);


-- ============================================================================================
-- Who is connected (docs/authorization.md, "Who is connected"). The worker's HTTP side keeps a
-- bounded record of the clients it answered (electric_sync.max_tracked_clients, least recently
-- seen dropped first; at most 4 shapes per client) and writes what changed here every 2 s.
-- Unlogged: it is a sample of the present, emptied by a crash.
-- ============================================================================================

CREATE UNLOGGED TABLE electric_sync.client_activity (
    client_id       text PRIMARY KEY,
    kind            text NOT NULL,
    role_name       text,
    device_id       uuid,
    subject         text,
    user_id         text,
    source_id       text,
    user_agent      text,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    requests        bigint NOT NULL,
    errors          bigint NOT NULL,
    last_status     int NOT NULL,
    status          text NOT NULL,
    shapes          jsonb NOT NULL DEFAULT '[]',
    last_pull_after bigint,
    documents       jsonb
);

-- The log position of an Electric offset ("<lsn>_<op>"), for lag in bytes of WAL.
CREATE FUNCTION electric_sync._offset_lsn(o text) RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN o ~ '^[0-9]+_[0-9]+$' THEN split_part(o, '_', 1)::numeric END $$;

-- One row per client: readers of /v1/shape (a device, a token subject, a role, the
-- administrator or, with read_auth = none, everyone as "public") and oversync sources.
-- status: idle (up to date, nothing pending), syncing (catching up; a push or pull under way;
-- a 409), error (the last request failed); 'revoked' for a revoked device.
-- shapes: the last shapes read, each with the offset read and lag_bytes behind the shape's log
-- (from shape_stats, refreshed every 5 s). lag_bytes: the largest of them. For oversync
-- sources: the last push (committed source bundle) and pull positions, and how many bundles
-- the user has that the last pull did not reach. documents: for a SyncKit WebSocket connection
-- (kind synckit), the ids of the documents it is subscribed to.
CREATE VIEW electric_sync.clients AS
SELECT a.client_id,
       a.kind,
       CASE WHEN d.revoked_at IS NOT NULL THEN 'revoked' ELSE a.status END AS status,
       a.last_seen,
       a.first_seen,
       a.user_agent,
       a.requests,
       a.errors,
       a.last_status,
       a.role_name,
       a.device_id,
       a.subject,
       d.enrolled_at,
       d.revoked_at,
       sh.shapes,
       sh.lag_bytes,
       a.user_id,
       a.source_id,
       ss.max_committed_source_bundle_id AS last_push_source_bundle_id,
       a.last_pull_after AS last_pull_after_bundle_seq,
       CASE WHEN a.kind = 'oversync' AND a.last_pull_after IS NOT NULL
            THEN greatest(us.next_bundle_seq - 1 - a.last_pull_after, 0) END AS pull_lag_bundles,
       a.documents
  FROM electric_sync.client_activity a
  LEFT JOIN electric_sync.devices d ON d.device_id = a.device_id
  LEFT JOIN electric_sync.os_source_state ss ON ss.user_id = a.user_id AND ss.source_id = a.source_id
  LEFT JOIN electric_sync.os_user_state us ON us.user_id = a.user_id
  LEFT JOIN LATERAL (
      SELECT jsonb_agg(x.e || jsonb_build_object('lag_bytes', x.lag) ORDER BY x.o) AS shapes, max(x.lag) AS lag_bytes
        FROM (SELECT e, o,
                     greatest(electric_sync._offset_lsn(st.last_offset) - electric_sync._offset_lsn(e->>'offset'), 0) AS lag
                FROM jsonb_array_elements(a.shapes) WITH ORDINALITY j(e, o)
                LEFT JOIN electric_sync.shapes s ON s.handle = e->>'handle'
                LEFT JOIN electric_sync.shape_stats st ON st.shape_id = s.shape_id) x) sh ON true;

REVOKE ALL ON TABLE electric_sync.client_activity, electric_sync.clients FROM PUBLIC;
REVOKE ALL ON FUNCTION electric_sync._offset_lsn(text) FROM PUBLIC;

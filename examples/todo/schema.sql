-- The todo example's table (examples/todo/README.md). Safe to run again.
-- _sync_scope_id is the owner (the token's sub); the write path needs it, a uuid key and the
-- primary key (_sync_scope_id, id).
CREATE TABLE IF NOT EXISTS public.todos (
  _sync_scope_id text NOT NULL,
  id uuid NOT NULL,
  title text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id));
-- Registered once for the oversync push path.
SELECT electric_sync.oversync_register_table('public.todos')
 WHERE NOT EXISTS (SELECT 1 FROM electric_sync.os_tables WHERE schema_name = 'public' AND table_name = 'todos');

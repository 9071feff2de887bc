// The barrier (docs/architecture.md): this directory comes first on the include path of the
// thread side (src/http, src/hub, src/pool, src/serve, src/oversync) and of src/core, and the
// server include directory is absent there. Reaching this file means such a file included a
// Postgres server header.
#error "electric_sync barrier: a thread-side or core file (src/core, src/http, src/hub, src/pool, src/serve, src/oversync) included the Postgres server header fmgr.h. Only the main thread may call Postgres: move this code to src/pg, src/extension, src/decode, src/shape, src/engine or src/worker, or talk to the main thread through the hub."

// electric_sync.* configuration (docs/configuration.md). Registered in _PG_init.
#pragma once

extern "C" {
extern char *es_guc_database;
extern char *es_guc_listen_address;
extern int es_guc_port;
extern int es_guc_io_threads;
extern int es_guc_db_pool_size;
extern int es_guc_snapshot_cache_mb;
extern char *es_guc_slot_name;
extern char *es_guc_secret;
extern char *es_guc_jwt_secret;
extern int es_guc_long_poll_timeout_ms;
extern int es_guc_sse_timeout_ms;
extern int es_guc_chunk_bytes;
extern int es_guc_max_age;
extern int es_guc_stale_age;
extern int es_guc_batch_changes;
extern int es_guc_poll_interval_ms;
extern bool es_guc_allow_shape_deletion;
extern char *es_guc_conninfo;
extern int es_guc_max_shape_log_kb;
extern char *es_guc_secret_file;
extern char *es_guc_jwt_secret_file;
extern int es_guc_http_header_timeout_ms;
extern int es_guc_http_idle_timeout_ms;
extern int es_guc_http_max_connections;
extern int es_guc_read_auth;  // ES_READ_AUTH_*
extern char *es_guc_read_anon_role;
extern char *es_guc_jwt_public_key_file;
extern bool es_guc_read_allow_bypassrls;
extern int es_guc_device_token_ttl_s;
extern int es_guc_max_tracked_clients;
}

enum { ES_READ_AUTH_SECRET = 0, ES_READ_AUTH_JWT = 1, ES_READ_AUTH_NONE = 2 };
extern "C" {
}

void es_define_gucs();

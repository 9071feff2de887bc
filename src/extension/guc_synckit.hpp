// electric_sync.synckit_* settings: GET /ws, SyncKit's WebSocket document sync (docs/synckit.md,
// docs/configuration.md). All reloadable (PGC_SIGHUP); the worker hands them to the endpoint.
#pragma once

extern "C" {
extern bool es_guc_sk_anonymous;  // off: a token is required
extern bool es_guc_sk_create_documents;  // on: a first write creates the document
extern int es_guc_sk_max_connections_per_ip;  // 50 (SyncKit's default)
extern int es_guc_sk_messages_per_minute;  // 500 per connection
extern int es_guc_sk_max_message_bytes;  // 2,000,000
extern int es_guc_sk_awareness_timeout_ms;  // 30 s
extern int es_guc_sk_auth_timeout_ms;  // 10 s
extern char *es_guc_sk_origin;  // internal (set by the worker around its own writes)
}

void es_define_synckit_gucs();

// electric_sync.synckit_* settings (see guc_synckit.hpp). Defaults are SyncKit's where it has
// one (docs/protocols/synckit.md §7).
#include "pg/compat.hpp"
extern "C" {
#include "utils/guc.h"
}
#include "extension/guc_synckit.hpp"
#include <climits>

bool es_guc_sk_anonymous = false;
bool es_guc_sk_create_documents = true;
int es_guc_sk_max_connections_per_ip = 50;
int es_guc_sk_messages_per_minute = 500;
int es_guc_sk_max_message_bytes = 2000000;
int es_guc_sk_awareness_timeout_ms = 30000;
int es_guc_sk_auth_timeout_ms = 10000;
char *es_guc_sk_origin = nullptr;

void es_define_synckit_gucs() {
    DefineCustomBoolVariable("electric_sync.synckit_anonymous",
                             "Lets WebSocket clients without a token read and write every document.",
                             "Off: a connection needs a token (?token= in the URL or an AUTH message) "
                             "signed with electric_sync.jwt_secret.",
                             &es_guc_sk_anonymous, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("electric_sync.synckit_create_documents",
                             "Lets a WebSocket client's first write create a document.",
                             "Off: only documents created with electric_sync.document_create exist; "
                             "others are refused with DOCUMENT_NOT_FOUND.",
                             &es_guc_sk_create_documents, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.synckit_max_connections_per_ip",
                            "Most WebSocket connections from one address (0 = no limit).", nullptr,
                            &es_guc_sk_max_connections_per_ip, 50, 0, 1000000, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("electric_sync.synckit_messages_per_minute",
                            "Most messages one WebSocket connection may send in a minute (0 = no limit).",
                            "Over it: an ERROR frame (RATE_LIMITED) and the connection is closed.",
                            &es_guc_sk_messages_per_minute, 500, 0, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("electric_sync.synckit_max_message_bytes", "Largest WebSocket message accepted.",
                            "Over it: an ERROR frame (MESSAGE_TOO_LARGE) and the connection is closed (1009).",
                            &es_guc_sk_max_message_bytes, 2000000, 1024, 64 * 1024 * 1024, PGC_SIGHUP, GUC_UNIT_BYTE,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.synckit_awareness_timeout",
                            "How long an awareness (presence) entry lives without an update.", nullptr,
                            &es_guc_sk_awareness_timeout_ms, 30000, 100, 24 * 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    // Set (transaction-local) by the worker around its own writes of electric_sync_docs.fields:
    // the notify trigger then sends no notification (the worker delivers those writes itself).
    // Not a configuration setting.
    DefineCustomStringVariable("electric_sync.synckit_origin",
                               "Internal: the WebSocket connection a write of electric_sync_docs.fields comes from.",
                               nullptr, &es_guc_sk_origin, "", PGC_USERSET,
                               GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("electric_sync.synckit_auth_timeout",
                            "How long a WebSocket connection without a token may wait before its AUTH message.",
                            nullptr, &es_guc_sk_auth_timeout_ms, 10000, 100, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
}

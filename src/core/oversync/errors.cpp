// Contract error codes -> HTTP statuses (see errors.hpp).
#include "core/oversync/errors.hpp"

namespace es::oversync {

namespace {
struct CodeStatus {
    const char *code;
    int status;
};
constexpr CodeStatus kCodes[] = {
    // 400: the request is malformed or breaks a rule of the contract
    {"invalid_request", 400},
    {"push_session_invalid", 400},
    {"push_chunk_invalid", 400},
    {"push_commit_invalid", 400},
    {"committed_bundle_chunk_invalid", 400},
    {"snapshot_session_invalid", 400},
    {"snapshot_chunk_invalid", 400},
    // 403: another user's session
    {"push_session_forbidden", 403},
    {"snapshot_session_forbidden", 403},
    // 404: unknown session or bundle
    {"push_session_not_found", 404},
    {"snapshot_session_not_found", 404},
    {"committed_bundle_not_found", 404},
    // 409: the state moved; the client reconnects, rebuilds or resolves
    {"history_pruned", 409},
    {"initialization_stale", 409},
    {"push_chunk_out_of_order", 409},
    {"push_conflict", 409},
    {"scope_initializing", 409},
    {"scope_uninitialized", 409},
    {"source_replacement_invalid", 409},
    {"source_retired", 409},
    {"source_sequence_changed", 409},
    {"source_sequence_out_of_order", 409},
    // 410: an expired lease or session
    {"initialization_expired", 410},
    {"push_session_expired", 410},
    {"snapshot_session_expired", 410},
    // 500: the server failed
    {"snapshot_session_create_failed", 500},
};
}  // namespace

int contract_status(std::string_view code) {
    for (const CodeStatus &c : kCodes)
        if (code == c.code) return c.status;
    return 0;
}

}  // namespace es::oversync

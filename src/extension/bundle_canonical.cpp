// SQL function electric_sync.os_canonical_json(jsonb) -> text: Go-compatible canonical JSON
// (src/core/oversync/canonical.hpp), used by the oversync bundle finalizer for payloads and
// bundle_hash (sql/install/51_oversync_capture.sql).
#include "pg/compat.hpp"
extern "C" {
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

#include "core/oversync/canonical.hpp"

#include <string>

extern "C" {
PG_FUNCTION_INFO_V1(es_os_canonical_json);
}

extern "C" Datum es_os_canonical_json(PG_FUNCTION_ARGS) {
    Jsonb *jb = PG_GETARG_JSONB_P(0);
    char *txt = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
    text *result = es::pg_entry([&]() -> text * {
        std::string out;
        try {
            out = es::oversync::canonical_json(txt);
        } catch (const es::oversync::JsonSyntaxError &e) {
            throw es::SqlError(ERRCODE_INVALID_TEXT_REPRESENTATION, e.what());
        }
        return es::pg_guard([&] { return cstring_to_text_with_len(out.data(), int(out.size())); });
    });
    PG_RETURN_TEXT_P(result);
}

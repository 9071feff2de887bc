// Authorized shapes: what a reader (a Postgres role with JWT claims) may read of a table,
// decided by Postgres's own grants and row-level security policies (docs/authorization.md).
// Backend side, main thread or a backend only; needs a transaction.
#pragma once
#include "pg/compat.hpp"

#include <string>
#include <vector>

extern "C" {
#include "utils/relcache.h"
}

namespace es {

// The role a shape is read as: must exist, log in or not, must not be a superuser, must not
// have BYPASSRLS (unless electric_sync.read_allow_bypassrls), and the role
// electric_sync_reader must be a member of it (GRANT app_role TO electric_sync_reader): the
// administrator names the roles tokens may use, as PostgREST's authenticator does.
// Throws ShapeError (field "role", SQLSTATE 42501 / 42704) otherwise.
Oid check_reader_role(const std::string &role);

// Every attribute in attnums must be readable by role (table-level SELECT, or SELECT on the
// column). Throws ShapeError (field `field`, 42501) naming the columns that are not.
void check_column_grants(Relation rel, Oid role, const std::vector<int> &attnums, const char *field);

// The row-level security a reader gets on a table: "" when none applies (RLS off, or the role
// owns the table without FORCE ROW LEVEL SECURITY); otherwise the SELECT policies that apply
// to the role (permissive ones OR'd, restrictive ones AND'd, no permissive one: false), with
// current_user / session_user and current_setting('request.jwt.claims' | 'request.jwt.claim.<x>')
// replaced by the reader's values and constants folded, deparsed like a where clause. A policy
// that cannot be compiled into a shape (a subquery, a volatile or stable function left after the
// claims are substituted) throws ShapeError naming it. `claims_json` is a JSON object.
std::string compile_read_policy(Relation rel, Oid role, const std::string &role_name, const std::string &claims_json);

}  // namespace es

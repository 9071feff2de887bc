// The oversync contract's error codes and their HTTP statuses. The write path's SQL raises a
// contract error with SQLSTATE kContractSqlstate and the code in DETAIL (os_raise); the routes
// turn it into `{"error": code, "message": ...}` with the status this table gives. Every code
// the SQL raises is here (test/unit/test_oversync_errors.cpp reads sql/install/ to check), with
// the 4xx codes the C++ validation shares with it.
#pragma once
#include <string_view>

namespace es::oversync {

inline constexpr const char *kContractSqlstate = "OSERR";

// The HTTP status of a contract error code; 0 when the code is not one of the contract's.
int contract_status(std::string_view code);

}  // namespace es::oversync

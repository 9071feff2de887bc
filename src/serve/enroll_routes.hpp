// Device enrollment over HTTP (docs/authorization.md, "Devices"). Pure C++ (libpq through the
// DB pool): the codes and devices live in SQL (sql/install/27_devices.sql), the tokens are
// signed here with the key the worker loaded (auth::DeviceState).
//   POST /v1/enroll          {"code": "..."}          one-time code -> device token
//   POST /v1/enroll/refresh  {"refresh_token": "..."} refresh token -> new device token
// Both answer 200 {"device_id", "role", "token", "token_type": "Bearer", "expires_in",
// "expires_at", "refresh_token"}; 400 for a malformed body, 401 for a code or refresh token
// that is unknown, used, expired or revoked, 403 unless electric_sync.read_auth = 'jwt', 503
// while the worker has not loaded the device key or the database is unreachable. Every error
// is Electric's {"message": ...}.
#pragma once
#include "serve/service.hpp"

namespace es::svc {

inline bool is_enroll_path(const std::string &path) { return path == "/v1/enroll" || path == "/v1/enroll/refresh"; }

void handle_enroll(http::ExchangePtr ex, DbPool &pool, const ServiceConfig &cfg);

}  // namespace es::svc

// Who a request reads as (electric_sync.read_auth, docs/authorization.md), for the shape routes
// and for GET /v1/reader. Pure C++ over the auth decision (core/auth/reader).
//   GET /v1/reader   answers 200 {"restricted", "role", "subject", "device"} with the header
//                    electric-reader: <Reader::cache_identity()> for the request's
//                    Authorization header (and secret / api_secret parameter), or the same
//                    401 as /v1/shape. A proxy's auth_request calls it and keys its cache on
//                    electric-reader (docs/nginx.md, "Authorized shapes"). Nothing is read from
//                    the database and nothing is recorded: it is a check, not a read.
#pragma once
#include "serve/service.hpp"

namespace es::svc {

// The decision for this request: its Authorization header, `secret` (the secret / api_secret
// parameter, or null), the settings and the clock now.
auth::Reader authenticate_request(const ServiceConfig &cfg, const http::Request &rq, const std::string *secret);

// The answer to a refused reader: its status and Electric's {"message": ...}, no-store, and
// WWW-Authenticate: Bearer in jwt mode.
http::Response refused_reader_response(const ServiceConfig &cfg, const auth::Reader &r);

inline bool is_reader_path(const std::string &path) { return path == "/v1/reader"; }

void handle_reader(http::ExchangePtr ex, const ServiceConfig &cfg);

}  // namespace es::svc

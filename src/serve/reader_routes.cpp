// Who a request reads as, and GET /v1/reader (reader_routes.hpp).
#include "serve/reader_routes.hpp"

#include "core/electric/electric.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

namespace es::svc {

auth::Reader authenticate_request(const ServiceConfig &cfg, const http::Request &rq, const std::string *secret) {
    auth::ReaderRequest who{secret, rq.header("authorization")};
    int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return auth::authenticate_reader(cfg.reader_config(), who, now);
}

http::Response refused_reader_response(const ServiceConfig &cfg, const auth::Reader &r) {
    http::Response resp = http::json_response(r.status, r.body);
    resp.set("cache-control", "no-store");
    if (cfg.read_auth == auth::ReadAuth::Jwt) resp.set("www-authenticate", "Bearer");
    return resp;
}

void handle_reader(http::ExchangePtr ex, const ServiceConfig &cfg) {
    const http::Request &req = ex->request();
    http::Response r;
    if (req.method != "GET" && req.method != "HEAD") {
        r = http::json_response(405, electric::message_body("Method not allowed: use GET"));
        r.set("allow", "GET, HEAD");
        r.set("cache-control", "no-store");
    } else {
        electric::QueryParams q = electric::parse_query(req.query);
        const std::string *secret = electric::find_param(q, "secret");
        if (!secret) secret = electric::find_param(q, "api_secret");
        auth::Reader who = authenticate_request(cfg, req, secret);
        if (!who.ok) {
            r = refused_reader_response(cfg, who);
        } else {
            nlohmann::json body = {{"restricted", who.restricted}};
            if (who.restricted) {
                body["role"] = who.role;
                body["subject"] = who.subject.empty() ? nlohmann::json() : nlohmann::json(who.subject);
                body["device"] = who.device.empty() ? nlohmann::json() : nlohmann::json(who.device);
            }
            r = http::json_response(200, body.dump());
            r.set("electric-reader", who.cache_identity());
            r.set("cache-control", "no-store");
        }
    }
    add_common_headers(req, r);
    ex->respond(std::move(r));
}

}  // namespace es::svc

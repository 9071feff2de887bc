// POST /v1/enroll and /v1/enroll/refresh (enroll_routes.hpp).
#include "serve/enroll_routes.hpp"

#include "core/common/json_limits.hpp"
#include "core/electric/electric.hpp"
#include "pool/pq.hpp"

#include <chrono>

namespace es::svc {

namespace {

constexpr size_t kMaxBodyBytes = 4096;
constexpr size_t kMaxSecretChars = 128;

void reply(const http::ExchangePtr &ex, int status, std::string body) {
    http::Response r = http::json_response(status, std::move(body));
    r.set("cache-control", "no-store");
    if (status == 503) r.set("retry-after", "5");
    add_common_headers(ex->request(), r);
    ex->respond(std::move(r));
}

void refuse(const http::ExchangePtr &ex, int status, const std::string &message) {
    reply(ex, status, electric::message_body(message));
}

}  // namespace

void handle_enroll(http::ExchangePtr ex, DbPool &pool, const ServiceConfig &cfg) {
    const http::Request &req = ex->request();
    if (req.method != "POST") {
        refuse(ex, 405, "Method not allowed: use POST");
        return;
    }
    if (cfg.read_auth != auth::ReadAuth::Jwt) {
        refuse(ex, 403, "device enrollment needs electric_sync.read_auth = 'jwt' (device tokens are bearer tokens)");
        return;
    }
    std::shared_ptr<const auth::DeviceState> devices = cfg.devices;
    if (!devices || devices->secret.empty()) {
        refuse(ex, 503, "device enrollment is not available yet: the worker has not loaded the device key");
        return;
    }
    const bool refresh = req.path == "/v1/enroll/refresh";
    const char *field = refresh ? "refresh_token" : "code";
    if (req.body.size() > kMaxBodyBytes) {
        refuse(ex, 413, "the request body is larger than 4096 bytes");
        return;
    }
    auto doc = json_limits::parse_bounded(req.body, json_limits::Limits{8, kMaxBodyBytes});
    std::string secret;
    if (doc.ok() && doc.value.is_object() && doc.value.contains(field) && doc.value[field].is_string())
        secret = doc.value[field].get<std::string>();
    if (secret.empty() || secret.size() > kMaxSecretChars) {
        refuse(ex, 400,
               std::string("the body must be a JSON object with \"") + field + "\" (a string of at most 128 characters)");
        return;
    }
    std::string agent;
    if (const std::string *ua = req.header("user-agent")) agent = ua->substr(0, 256);
    int64_t ttl = cfg.device_token_ttl_s;
    pool.submit([ex, devices, refresh, secret, agent, ttl](PGconn *conn) {
        nlohmann::json d;
        try {
            auto r = refresh ? pq_exec(conn, "SELECT electric_sync._refresh_device($1, $2::int)::text",
                                       {secret, std::to_string(ttl)})
                             : pq_exec(conn, "SELECT electric_sync._enroll($1, $2, $3::int)::text",
                                       {secret, agent, std::to_string(ttl)});
            d = nlohmann::json::parse(r.str(0, 0));
        } catch (const PqError &e) {
            if (e.sqlstate == "28000") return refuse(ex, 401, "Unauthorized - " + std::string(e.what()));
            if (e.sqlstate.rfind("08", 0) == 0 || e.sqlstate.rfind("57P", 0) == 0)
                return refuse(ex, 503, "the database is unavailable");
            return refuse(ex, 500, refresh ? "device refresh failed" : "device enrollment failed");
        } catch (const std::exception &) {
            return refuse(ex, 500, refresh ? "device refresh failed" : "device enrollment failed");
        }
        int64_t now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        std::string device = d.value("device_id", ""), role = d.value("role", "");
        nlohmann::ordered_json out;
        out["device_id"] = device;
        out["role"] = role;
        out["token"] = auth::issue_device_token(*devices, device, role, d["claims"], now, ttl);
        out["token_type"] = "Bearer";
        out["expires_in"] = ttl;
        out["expires_at"] = now + ttl;
        out["refresh_token"] = d.value("refresh_token", "");
        reply(ex, 200, out.dump());
    });
}

}  // namespace es::svc

// The read path's authentication decision (reader.hpp).
#include "core/auth/reader.hpp"
#include "core/electric/electric.hpp"
#include "core/oversync/canonical.hpp"

#include <nlohmann/json.hpp>

namespace es::auth {

std::string Reader::key() const {
    if (!restricted) return "";
    return "role:" + std::to_string(role.size()) + ":" + role + "\nclaims:" + claims;
}

std::string Reader::cache_identity() const {
    if (!restricted) return "unrestricted";
    return "reader-" + es::oversync::sha256_hex(key());
}

namespace {

Reader refuse(const std::string &message) {
    Reader r;
    r.status = 401;
    r.body = electric::message_body(message);
    return r;
}

Reader unrestricted() {
    Reader r;
    r.ok = true;
    return r;
}

Reader as_role(std::string role, nlohmann::json claims) {
    Reader r;
    r.ok = true;
    r.restricted = true;
    r.role = std::move(role);
    auto sub = claims.find("sub");
    if (sub != claims.end() && sub->is_string()) r.subject = sub->get<std::string>();
    for (const char *k : {"exp", "iat", "nbf", "jti"}) claims.erase(k);
    r.claims = claims.dump();  // object keys in sorted order: one text per set of claims
    return r;
}

}  // namespace

Reader authenticate_reader(const ReaderConfig &cfg, const ReaderRequest &req, int64_t now) {
    if (!cfg.secret.empty() && req.secret && electric::secret_equals(*req.secret, cfg.secret)) return unrestricted();
    switch (cfg.mode) {
    case ReadAuth::None: return unrestricted();
    case ReadAuth::Secret:
        if (cfg.secret.empty())
            return refuse(
                "Unauthorized - no read authentication is configured: set electric_sync.read_auth to 'jwt' "
                "(tokens), or to 'secret' with electric_sync.secret, or to 'none' to let anyone read");
        return refuse("Unauthorized - Invalid API secret");
    case ReadAuth::Jwt: break;
    }
    std::string token = req.authorization ? jwt::bearer_token(*req.authorization) : std::string();
    if (token.empty()) {
        if (req.authorization) return refuse("Unauthorized - the Authorization header is not \"Bearer <token>\"");
        if (cfg.anon_role.empty()) return refuse("Unauthorized - a bearer token is required");
        return as_role(cfg.anon_role, nlohmann::json{{"role", cfg.anon_role}});
    }
    const bool device = jwt::token_kid(token) == kDeviceKid;
    const jwt::KeySet *keys = device ? (cfg.devices ? cfg.devices->keys.get() : nullptr) : cfg.keys.get();
    if (!keys)
        return refuse(device ? "Unauthorized - invalid token: device tokens are not available (the worker has not "
                               "loaded the device key)"
                             : "Unauthorized - invalid token: no keys are configured");
    jwt::Token t = jwt::verify_token(token, *keys, now, cfg.leeway_s);
    if (!t.ok) return refuse("Unauthorized - invalid token: " + t.error);
    std::string device_id;
    auto dc = t.claims.find(kDeviceClaim);
    if (device) {
        if (dc == t.claims.end() || !dc->is_string() || dc->get<std::string>().empty())
            return refuse("Unauthorized - invalid token: a device token without its device");
        device_id = dc->get<std::string>();
        if (cfg.devices->revoked.count(device_id)) return refuse("Unauthorized - this device has been revoked");
    } else if (dc != t.claims.end()) {
        return refuse(std::string("Unauthorized - invalid token: the ") + kDeviceClaim +
                      " claim is reserved for device tokens");
    }
    std::string role = cfg.anon_role;
    auto it = t.claims.find("role");
    if (it != t.claims.end()) {
        if (!it->is_string() || it->get<std::string>().empty())
            return refuse("Unauthorized - invalid token: the role claim must be a non-empty string");
        role = it->get<std::string>();
    }
    if (role.empty())
        return refuse("Unauthorized - the token has no role claim and electric_sync.read_anon_role is not set");
    Reader r = as_role(std::move(role), std::move(t.claims));
    r.device = std::move(device_id);
    return r;
}

DeviceState::DeviceState(std::string s, std::unordered_set<std::string> rv)
    : secret(std::move(s)), keys(std::make_shared<const jwt::KeySet>(secret, "")), revoked(std::move(rv)) {}

std::string issue_device_token(const DeviceState &d, const std::string &device_id, const std::string &role,
                               const nlohmann::json &claims, int64_t now, int64_t ttl_s) {
    nlohmann::json c = claims.is_object() ? claims : nlohmann::json::object();
    c["role"] = role;
    c[kDeviceClaim] = device_id;
    c["iss"] = "electric_sync";
    c["iat"] = now;
    c["exp"] = now + ttl_s;
    return jwt::sign_hs256(c.dump(), d.secret, kDeviceKid);
}

}  // namespace es::auth

// Who is reading: the decision of electric_sync.read_auth for one /v1/shape request (pure C++,
// docs/authorization.md). The HTTP layer calls authenticate_reader and then either refuses the
// request (status + JSON body) or serves it unrestricted, or as a Postgres role with claims.
#pragma once
#include "core/auth/jwt.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

namespace es::auth {

enum class ReadAuth { Secret, Jwt, None };

// The clock skew the server allows on readers' exp / nbf (docs/authorization.md).
inline constexpr int64_t kReaderLeewaySeconds = 30;

// Device tokens (docs/authorization.md, "Devices"): HS256 JWTs the worker signs with the
// database's device key (electric_sync.device_keys), header kid kDeviceKid, carrying the role,
// the enrollment's claims and the device id in kDeviceClaim. Loaded by the worker's main thread
// at start and after every revoke_device; immutable once built.
inline constexpr const char *kDeviceKid = "electric_sync-device";
inline constexpr const char *kDeviceClaim = "es_device";
struct DeviceState {
    DeviceState(std::string secret, std::unordered_set<std::string> revoked);
    std::string secret;  // the device key ("" = none: device tokens are refused)
    std::shared_ptr<const jwt::KeySet> keys;  // the same key, for verification
    std::unordered_set<std::string> revoked;  // device ids whose tokens are refused
};

// A device token for a device enrolled as `role` with `claims` (a JSON object without the
// server-set claims), valid for ttl_s seconds from now.
std::string issue_device_token(const DeviceState &d, const std::string &device_id, const std::string &role,
                               const nlohmann::json &claims, int64_t now_unix, int64_t ttl_s);

struct ReaderConfig {
    ReadAuth mode = ReadAuth::Secret;
    std::string secret;  // electric_sync.secret: the administrator's secret ("" = none)
    std::string anon_role;  // electric_sync.read_anon_role: the role of requests without a token
    std::shared_ptr<const jwt::KeySet> keys;  // jwt mode: what tokens are verified with
    int64_t leeway_s = 0;  // clock skew allowed on exp / nbf
    std::shared_ptr<const DeviceState> devices;  // jwt mode: device tokens (null = refused)
};

struct ReaderRequest {
    const std::string *secret = nullptr;  // the secret / api_secret parameter, if any
    const std::string *authorization = nullptr;  // the Authorization header, if any
};

struct Reader {
    bool ok = false;
    int status = 0;  // when !ok: 401
    std::string body;  // when !ok: Electric's {"message": ...}
    bool restricted = false;  // read as `role` with `claims` (jwt mode); false = unrestricted
    std::string role;
    std::string claims;  // the JSON object policies see (request.jwt.claims), canonical, without
                         // the per-token claims exp, iat, nbf and jti
    std::string device;  // a device token's device id ("" otherwise)
    std::string subject;  // the token's "sub", when a string ("" otherwise)
    // What distinguishes this reader's shapes from another's of the same definition ("" when
    // unrestricted): requests with equal keys share one shape.
    std::string key() const;
    // The same, for a shared cache's key (docs/nginx.md, "Authorized shapes"): "unrestricted",
    // or "reader-" + the hex SHA-256 of key(), so that claims never appear in a cache key.
    std::string cache_identity() const;
};

// The decision:
//  - the administrator's secret (a non-empty electric_sync.secret given as secret/api_secret)
//    reads unrestricted in every mode;
//  - none: everyone reads unrestricted;
//  - secret: the secret is required; without a configured secret nothing is served (a fresh
//    install does not serve its tables to anonymous readers);
//  - jwt: "Authorization: Bearer <token>" verified with keys (exp/nbf honoured), read as the
//    token's "role" claim, or read_anon_role when absent; without a token: read_anon_role with
//    claims {"role": <anon role>}, or 401 when it is not set. A token whose header kid is
//    kDeviceKid is a device token: verified with cfg.devices, refused when its device is revoked;
//    other tokens may not carry the device claim.
Reader authenticate_reader(const ReaderConfig &cfg, const ReaderRequest &req, int64_t now_unix);

}  // namespace es::auth

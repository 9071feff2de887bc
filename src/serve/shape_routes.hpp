// /v1/shape: the ElectricSQL shape API on the HTTP side (docs/read-path.md).
// Requests are answered from the in-memory ShapeHub when possible; shape creation, snapshots,
// loads after a restart, deletion and subset snapshots run as DB-pool jobs over libpq.
#pragma once
#include "core/electric/electric.hpp"
#include "core/electric/shape_description.hpp"
#include "hub/shape_hub.hpp"
#include "serve/service.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <random>

namespace es::svc {

class ShapeRoutes {
public:
    ShapeRoutes(Service &svc, ShapeHub &hub) : svc_(svc), hub_(hub) {}
    void handle(http::ExchangePtr ex);

    // Shape row as stored in electric_sync.shapes (what jobs need).
    struct ShapeRow {
        electric::ShapeDescription desc;  // as stored
        ShapeInfo info;  // what the hub serves (from desc)
        std::string where;  // executable form of desc.where (deparsed); may be empty
    };

private:
    using Clock = std::chrono::steady_clock;
    // One request.
    struct Ctx {
        http::ExchangePtr ex;
        electric::ShapeRequest req;
        std::string def;  // the definition, and for an authorized reader its identity (Reader::key)
        ServiceConfig cfg;
        auth::Reader reader;  // who reads (electric_sync.read_auth)
        bool post = false;
        ShapePtr shape;
        std::string new_handle;  // for 409
        std::shared_ptr<http::Timer> timer, keepalive;
        uint64_t wait_id = 0;
        Clock::time_point deadline;
        bool timed_out = false;
        std::mutex mu;  // SSE pump state
        electric::LogOffset sse_offset;
        bool sse_started = false;
        std::atomic<bool> sse_done{false};  // the stream ended (timeout or shape gone)
        // A snapshot chunk read from the database (its snapshot is not in memory).
        std::optional<std::pair<size_t, std::string>> fetched_chunk;
    };
    using CtxPtr = std::shared_ptr<Ctx>;

    void handle_get(CtxPtr c);
    void handle_delete(CtxPtr c);
    void resolve(CtxPtr c, bool by_definition);
    void serve(CtxPtr c);
    void serve_ready(CtxPtr c, const ShapePtr &s);
    http::Response ready_response(const CtxPtr &c, const ShapePtr &s, std::string body, const electric::LogOffset &resp,
                                  bool utd, bool has_data);
    // Reads snapshot chunk k of the request's shape on a pool connection, then serves again.
    void fetch_chunk(CtxPtr c, const ShapePtr &s, size_t k);
    void park(CtxPtr c, const ShapePtr &s);
    void stream_sse(CtxPtr c, const ShapePtr &s);
    void sse_pump(CtxPtr c, const ShapePtr &s);
    void sse_keepalive(std::weak_ptr<Ctx> c);
    void respond_409(CtxPtr c);
    void respond_error(CtxPtr c, int status, std::string body);
    static std::pair<int, std::string> creation_failure(const std::exception &e);
    void respond_failure(CtxPtr c, int status, std::string body);
    void finish(CtxPtr c, http::Response r);
    void note_client(const CtxPtr &c, int status, const std::string &handle, const std::string &offset,
                     bool up_to_date);
    void subset(CtxPtr c, const ShapePtr &s);

    // Jobs (DB pool threads).
    void job_resolve(CtxPtr c, PGconn *conn, bool by_definition);
    void ensure_ready(const ShapePtr &s, const ShapeRow &row, PGconn *conn);
    void job_snapshot(const ShapePtr &s, const ShapeRow &row, PGconn *conn);
    void job_load(const ShapePtr &s, const ShapeRow &row, PGconn *conn, bool log_ready);

    uint64_t random64();

    Service &svc_;
    ShapeHub &hub_;
    std::mutex rng_mu_;
    std::mt19937_64 rng_{std::random_device{}()};
    std::mutex snap_mu_;
    std::vector<int64_t> snapshots_running_;
};

}  // namespace es::svc

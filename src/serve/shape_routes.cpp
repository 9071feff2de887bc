// /v1/shape request handling: validation, shape resolution, serving snapshot chunks and log
// slices from memory, long-poll parking, SSE streaming, DELETE and OPTIONS.
#include "serve/shape_routes.hpp"
#include "pool/pq.hpp"
#include "serve/reader_routes.hpp"

#include <chrono>

namespace es::svc {

using namespace es::electric;

uint64_t ShapeRoutes::random64() {
    std::lock_guard<std::mutex> g(rng_mu_);
    return rng_();
}

static CacheConfig cache_cfg(const ServiceConfig &c) {
    CacheConfig cc;
    cc.max_age = c.max_age;
    cc.stale_age = c.stale_age;
    cc.sse_timeout_s = c.sse_timeout_ms / 1000;
    return cc;
}

// What an authorized reader gets is theirs: no shared cache may keep it for another
// (cache-control private, without s-maxage; vary on the Authorization header).
static void make_private(http::Response &r) {
    if (const std::string *cc = r.header("cache-control")) {
        std::string v = *cc;
        if (v.rfind("public", 0) == 0) v = "private" + v.substr(6);
        size_t sm = v.find(", s-maxage=");  // for shared caches only
        if (sm != std::string::npos) {
            size_t end = v.find(',', sm + 2);
            v.erase(sm, end == std::string::npos ? std::string::npos : end - sm);
        }
        r.set("cache-control", v);
    }
    r.set("vary", "Authorization");
}

// electric_sync.clients: who read what (requests refused before we know who are not noted).
void ShapeRoutes::note_client(const CtxPtr &c, int status, const std::string &handle, const std::string &offset,
                              bool up_to_date) {
    if (!c->reader.ok) return;
    clients::ReaderIdentity who;
    if (c->reader.restricted) {
        who.role = c->reader.role;
        who.device = c->reader.device;
        who.subject = c->reader.subject;
    } else {
        who.admin = c->cfg.read_auth != auth::ReadAuth::None;
    }
    const std::string *ua = c->ex->request().header("user-agent");
    svc_.clients().note_reader(who, ua ? *ua : "", status, handle, offset, up_to_date, now_unix_ms());
}

void ShapeRoutes::finish(CtxPtr c, http::Response r) {
    const std::string *h = r.header("electric-handle"), *o = r.header("electric-offset");
    note_client(c, r.status, h ? *h : "", o ? *o : "", r.header("electric-up-to-date") != nullptr);
    if (c->reader.restricted) make_private(r);
    for (auto &h : cors_headers()) r.set(h.first, h.second);
    r.set("electric-server", "electric_sync/" ES_EXT_VERSION);
    if (!r.header("content-type")) r.set("content-type", "application/json");
    c->ex->respond(std::move(r));
}

void ShapeRoutes::respond_error(CtxPtr c, int status, std::string body) {
    http::Response r = http::json_response(status, std::move(body));
    CacheInput ci;
    ci.method = c->ex->request().method;
    ci.status = status;
    auto cc = select_cache_control(ci, cache_cfg(c->cfg));
    r.set("cache-control", cc.cache_control);
    if (cc.surrogate_no_store) r.set("surrogate-control", "no-store");
    finish(c, std::move(r));
}

void ShapeRoutes::respond_409(CtxPtr c) {
    http::Response r = http::json_response(409, must_refetch_body());
    if (!c->new_handle.empty()) r.set("electric-handle", c->new_handle);
    CacheInput ci;
    ci.method = c->ex->request().method;
    ci.status = 409;
    ci.has_handle = !c->new_handle.empty();
    r.set("cache-control", select_cache_control(ci, cache_cfg(c->cfg)).cache_control);
    finish(c, std::move(r));
}

void ShapeRoutes::handle(http::ExchangePtr ex) {
    auto c = std::make_shared<Ctx>();
    c->ex = ex;
    c->cfg = svc_.config();
    const http::Request &rq = ex->request();
    if (rq.method == "OPTIONS") {
        http::Response r;
        r.status = 204;
        for (auto &h : preflight_headers(rq.header("access-control-request-headers"))) r.set(h.first, h.second);
        finish(c, std::move(r));
        return;
    }
    bool is_get = rq.method == "GET" || rq.method == "HEAD";
    c->post = rq.method == "POST";
    bool is_delete = rq.method == "DELETE";
    if (!is_get && !c->post && !is_delete) {
        respond_error(c, 405, message_body("Method not allowed"));
        return;
    }
    QueryParams q = parse_query(rq.query);
    if (c->post) {
        std::string err;
        int status = 400;
        if (!merge_subset_body(rq.body, q, err, status)) {
            respond_error(c, status, err);  // 413 for a body over the size bound
            return;
        }
    }
    if (is_delete && (!c->cfg.secret.empty() || c->cfg.read_auth != auth::ReadAuth::None)) {
        // Authorization first: a DELETE without the secret learns nothing, whatever its form.
        // Only the administrator's secret deletes (any reader could otherwise reset everyone's
        // shapes); without a secret, only read_auth = none allows it.
        const std::string *given = find_param(q, "secret");
        if (!given) given = find_param(q, "api_secret");
        if (c->cfg.secret.empty() || !given || !secret_equals(*given, c->cfg.secret)) {
            respond_error(c, 401, unauthorized_body());
            return;
        }
    }
    if (is_delete && !find_param(q, "offset")) q.emplace_back("offset", "-1");
    ValidationErrors errs = parse_shape_request(q, c->req);
    if (!errs.empty() && !(is_delete && c->req.handle && errs.fields.size() == 1 && errs.fields.count("table"))) {
        respond_error(c, 400, errs.to_body());
        return;
    }
    if (!is_delete) {
        c->reader = authenticate_request(c->cfg, rq, c->req.secret ? &*c->req.secret : nullptr);
        if (!c->reader.ok) {
            finish(c, refused_reader_response(c->cfg, c->reader));
            return;
        }
    }
    c->def = normalized_definition(c->req.table_schema, c->req.table_name, c->req.where.value_or(""), c->req.params,
                                   c->req.columns, c->req.replica, c->req.log);
    if (c->reader.restricted) c->def += "\n" + c->reader.key();
    if (is_delete) {
        handle_delete(c);
        return;
    }
    handle_get(c);
}

void ShapeRoutes::handle_get(CtxPtr c) {
    if (c->req.live && c->req.live_sse && c->post) {
        respond_error(c, 400, invalid_request_body("live_sse", "can't be used with POST"));
        return;
    }
    bool by_def = c->req.offset.is_before_all() || c->req.offset.is_now() || !c->req.handle;
    resolve(c, by_def);
}

// Finds the shape in memory, or asks the database (create-or-get, load, snapshot).
void ShapeRoutes::resolve(CtxPtr c, bool by_def) {
    ShapePtr s = by_def ? hub_.by_definition(c->def) : hub_.by_handle(*c->req.handle);
    if (s) {
        // A shape several readers share was added under the first one's definition: another
        // reader's request is this shape's when its own definition maps to it (found by it, or
        // by handle and then checked).
        bool mapped = c->reader.restricted && (by_def || hub_.by_definition(c->def) == s);
        std::lock_guard<std::mutex> g(s->mutex());
        bool ok = s->status() != Shape::Status::Gone && (mapped || s->info().def == c->def);
        if (ok) c->shape = s;
    }
    if (c->shape) {
        serve(c);
        return;
    }
    svc_.pool().submit([this, c, by_def](PGconn *conn) { job_resolve(c, conn, by_def); });
}

void ShapeRoutes::serve(CtxPtr c) {
    ShapePtr s = c->shape;
    Shape::Status st;
    {
        std::lock_guard<std::mutex> g(s->mutex());
        st = s->status();
    }
    if (st == Shape::Status::Gone) {
        // Find (or make) the current shape for this definition, then 409 with its handle.
        hub_.forget_definition(c->def, s->info().id);
        c->shape.reset();
        c->req.offset.kind = RequestOffset::At;  // forces the 409 path in job_resolve
        svc_.pool().submit([this, c](PGconn *conn) { job_resolve(c, conn, false); });
        return;
    }
    if (st == Shape::Status::Failed) {
        int code;
        std::string body;
        {
            std::lock_guard<std::mutex> g(s->mutex());
            code = s->failure_status();
            body = s->failure_body();
        }
        respond_failure(c, code, std::move(body));
        return;
    }
    if (st == Shape::Status::Loading) {
        // Wait for the snapshot (and the engine's filtered log).
        uint64_t id = s->wait([this, c] { svc_.server()->post([this, c] { serve(c); }); });
        c->ex->on_close([s, id] { s->cancel_wait(id); });
        {
            std::lock_guard<std::mutex> g(s->mutex());
            if (s->status() == Shape::Status::Loading) return;
        }
        s->cancel_wait(id);
        serve(c);
        return;
    }
    if (c->req.subset.present) {
        subset(c, s);
        return;
    }
    if (c->req.live && c->req.live_sse) {
        stream_sse(c, s);
        return;
    }
    serve_ready(c, s);
}

void ShapeRoutes::fetch_chunk(CtxPtr c, const ShapePtr &s, size_t k) {
    svc_.pool().submit([this, c, s, k](PGconn *conn) {
        try {
            if (!conn) throw std::runtime_error("the database is unreachable");
            auto r = pq_exec(
                conn, "SELECT body FROM electric_sync.shape_snapshot_chunks WHERE shape_id = $1 AND chunk_no = $2",
                {std::to_string(s->info().id), std::to_string(k)});
            if (r.rows() == 0) {
                // The shape was deleted meanwhile: this object leaves the hub (a request resolving
                // the shape again gets a fresh one) and the usual gone path answers (409).
                hub_.remove(s);
                s->set_gone();
                svc_.server()->post([this, c] { serve(c); });
                return;
            }
            c->fetched_chunk.emplace(k, r.str(0, 0));
            svc_.server()->post([this, c] { serve(c); });
        } catch (const std::exception &e) {
            respond_failure(
                c, 503, message_body(std::string("Could not read the shape's snapshot, please retry: ") + e.what()));
        }
    });
}

void ShapeRoutes::serve_ready(CtxPtr c, const ShapePtr &s) {
    const ShapeRequest &R = c->req;
    // A device revoked while its request was held gets nothing more (revoke_device).
    if (!c->reader.device.empty() && svc_.device_revoked(c->reader.device)) {
        respond_error(c, 401, message_body("Unauthorized - this device has been revoked"));
        return;
    }
    std::string body;
    body.reserve(4096);
    body += '[';
    LogOffset resp;
    bool utd = false, has_data = false, must_park = false, gone = false, out_of_bounds = false;
    std::optional<size_t> fetch;  // a snapshot chunk to read from the database first
    {
        std::lock_guard<std::mutex> g(s->mutex());
        // Appends snapshot chunk k (from memory, or as read by fetch_chunk).
        auto add_chunk = [&](size_t k) {
            if (const std::string *ch = s->snapshot_chunk(k, now_ms())) {
                body += *ch;
            } else if (c->fetched_chunk && c->fetched_chunk->first == k) {
                body += c->fetched_chunk->second;
            } else {
                fetch = k;
                return;
            }
            has_data = true;
            resp = LogOffset::snapshot_chunk(k);
        };
        const size_t nchunks = s->snapshot_count();
        if (s->status() == Shape::Status::Gone || s->status() == Shape::Status::Failed) {
            gone = true;  // serve() answers both (409 with the new handle, or the failure)
        } else {
            if (R.offset.is_before_all()) {
                if (nchunks == 0)
                    resp = LogOffset::snapshot_end();
                else
                    add_chunk(0);
            } else if (R.offset.is_now()) {
                resp = s->log_end();
                utd = true;
            } else {
                const LogOffset &o = R.offset.offset;
                if (o.tx == 0 && !o.op_inf && o.op + 1 < nchunks) {
                    add_chunk(o.op + 1);
                } else if (o.tx > 0 && s->log_end() < o && o.tx > hub_.global_lsn()) {
                    // An offset no log has reached (the worker publishes its position before it
                    // serves): refuse it rather than hand out a made-up resume point.
                    out_of_bounds = true;
                } else {
                    LogOffset from = o.tx == 0 ? LogOffset::snapshot_end() : o;
                    LogSlice sl = s->slice_after(from);
                    if (sl.entries.empty()) {
                        if (R.live && !c->timed_out) must_park = true;
                        resp = from;
                        utd = true;
                    } else {
                        for (size_t i = 0; i < sl.entries.size(); i++) {
                            if (i) body += ',';
                            body += *sl.entries[i];
                        }
                        has_data = true;
                        resp = sl.last;
                        utd = sl.up_to_date;
                    }
                }
            }
        }
    }
    if (gone) {
        serve(c);
        return;
    }
    if (fetch) {
        fetch_chunk(c, s, *fetch);
        return;
    }
    c->fetched_chunk.reset();
    if (out_of_bounds) {
        respond_error(c, 400, invalid_request_body("offset", "out of bounds for this shape"));
        return;
    }
    if (must_park) {
        park(c, s);
        return;
    }
    if (utd) {
        if (has_data) body += ',';
        uint64_t g = std::max<uint64_t>(hub_.global_lsn(), resp.op_inf ? 0 : resp.tx);
        append_up_to_date(body, g);
    }
    body += ']';

    finish(c, ready_response(c, s, std::move(body), resp, utd, has_data));
}

// The 200 (or 304) for a ready shape: Electric's headers, the live cursor, etag, cache-control.
http::Response ShapeRoutes::ready_response(const CtxPtr &c, const ShapePtr &s, std::string body, const LogOffset &resp,
                                           bool utd, bool has_data) {
    const ShapeRequest &R = c->req;
    http::Response r = http::json_response(200, std::move(body));
    const std::string resp_s = resp.to_string();
    r.set("electric-handle", s->info().handle);
    r.set("electric-offset", resp_s);
    if (!R.live) r.set("electric-schema", s->info().schema_json);
    if (R.live) {
        int64_t now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        r.set("electric-cursor",
              std::to_string(next_cursor(now, std::max(1, c->cfg.long_poll_timeout_ms / 1000), R.cursor.value_or(""),
                                         random64())));
    }
    if (utd) r.set("electric-up-to-date", "");
    r.set("electric-has-data", has_data ? "true" : "false");
    std::string suffix;
    if (R.live && !has_data)
        suffix = std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
    std::string etag = make_etag(s->info().handle, R.offset.to_string(), resp_s, suffix);
    r.set("etag", etag);
    CacheInput ci;
    ci.method = c->ex->request().method;
    ci.status = 200;
    ci.offset_before_all = R.offset.is_before_all();
    ci.live = R.live;
    auto cc = select_cache_control(ci, cache_cfg(c->cfg));
    r.set("cache-control", cc.cache_control);
    if (const std::string *inm = c->ex->request().header("if-none-match")) {
        if (if_none_match_matches(*inm, etag)) {
            r.status = 304;
            r.body.clear();
        }
    }
    return r;
}

// Long-poll: hold the request until the shape's log grows past the offset, or the timeout.
void ShapeRoutes::park(CtxPtr c, const ShapePtr &s) {
    if (c->deadline == Clock::time_point{})
        c->deadline = Clock::now() + std::chrono::milliseconds(c->cfg.long_poll_timeout_ms);
    LogOffset after = c->req.offset.offset;
    if (after.tx == 0) after = LogOffset::snapshot_end();
    uint64_t id = s->wait_unless_data(after, [this, c, s] {
        if (c->timer) c->timer->cancel();
        svc_.server()->post([this, c, s] { serve_ready(c, s); });
    });
    if (id == 0) {  // data (or a state change) arrived meanwhile
        serve_ready(c, s);
        return;
    }
    c->wait_id = id;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c->deadline - Clock::now()).count();
    c->timer = svc_.server()->after(static_cast<int>(std::max<long long>(left, 0)), [this, c, s, id] {
        s->cancel_wait(id);
        c->timed_out = true;
        serve_ready(c, s);
    });
    c->ex->on_close([c, s, id] {
        s->cancel_wait(id);
        if (c->timer) c->timer->cancel();
    });
}

// SSE: one `data:` event per message, an up-to-date event at the end of each batch, keep-alive
// comments, closed after sse_timeout (or when the shape goes away: the next request gets 409).
void ShapeRoutes::stream_sse(CtxPtr c, const ShapePtr &s) {
    const ShapeRequest &R = c->req;
    http::Response head;
    head.status = 200;
    head.set("content-type", "text/event-stream");
    head.set("electric-handle", s->info().handle);
    head.set("electric-offset", R.offset.to_string());
    int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    head.set("electric-cursor",
             std::to_string(
                 next_cursor(now, std::max(1, c->cfg.long_poll_timeout_ms / 1000), R.cursor.value_or(""), random64())));
    CacheInput ci;
    ci.live = true;
    ci.sse = true;
    head.set("cache-control", select_cache_control(ci, cache_cfg(c->cfg)).cache_control);
    if (c->reader.restricted) make_private(head);
    for (auto &h : cors_headers()) head.set(h.first, h.second);
    head.set("electric-server", "electric_sync/" ES_EXT_VERSION);
    c->sse_offset = R.offset.offset.tx == 0 ? LogOffset::snapshot_end() : R.offset.offset;
    note_client(c, 200, s->info().handle, R.offset.to_string(), true);  // a live stream follows the log
    if (!c->ex->begin_stream(std::move(head))) return;
    c->timer = svc_.server()->after(c->cfg.sse_timeout_ms, [c, s] {
        c->sse_done = true;
        if (c->wait_id) s->cancel_wait(c->wait_id);
        if (c->keepalive) c->keepalive->cancel();
        c->ex->end_stream();
    });
    std::weak_ptr<Ctx> wc = c;
    c->keepalive = svc_.server()->after(15000, [this, wc] { sse_keepalive(wc); });
    c->ex->on_close([c, s] {
        if (c->timer) c->timer->cancel();
        if (c->keepalive) c->keepalive->cancel();
        if (c->wait_id) s->cancel_wait(c->wait_id);
    });
    sse_pump(c, s);
}

// A `: keep-alive` comment every 15 s while the stream is open (the timer holds only a weak
// reference to the request).
void ShapeRoutes::sse_keepalive(std::weak_ptr<Ctx> wc) {
    auto c = wc.lock();
    if (!c || c->ex->closed()) return;
    c->ex->send(std::string(kSseKeepAlive));
    c->keepalive = svc_.server()->after(15000, [this, wc] { sse_keepalive(wc); });
}

void ShapeRoutes::sse_pump(CtxPtr c, const ShapePtr &s) {
    std::lock_guard<std::mutex> pump(c->mu);
    if (c->ex->closed() || c->sse_done) return;
    if (!c->reader.device.empty() && svc_.device_revoked(c->reader.device)) {
        c->sse_done = true;
        c->ex->end_stream();
        return;
    }
    for (;;) {
        std::string out;
        bool gone = false;
        {
            std::lock_guard<std::mutex> g(s->mutex());
            if (s->status() == Shape::Status::Gone) {
                gone = true;
            } else {
                LogSlice sl = s->slice_after(c->sse_offset);
                for (auto *e : sl.entries) append_sse_event(out, *e);
                if (!sl.entries.empty()) {
                    c->sse_offset = sl.last;
                    if (sl.up_to_date) {
                        std::string u;
                        append_up_to_date(u, std::max<uint64_t>(hub_.global_lsn(), sl.last.tx));
                        append_sse_event(out, u);
                    }
                }
            }
        }
        if (gone) {
            c->sse_done = true;
            if (c->timer) c->timer->cancel();
            if (c->keepalive) c->keepalive->cancel();
            c->ex->end_stream();
            return;
        }
        if (!out.empty()) {
            c->ex->send(std::move(out));
            continue;
        }
        break;
    }
    uint64_t id =
        s->wait_unless_data(c->sse_offset, [this, c, s] { svc_.server()->post([this, c, s] { sse_pump(c, s); }); });
    if (id == 0) {
        svc_.server()->post([this, c, s] { sse_pump(c, s); });
        return;
    }
    c->wait_id = id;
}

void ShapeRoutes::handle_delete(CtxPtr c) {
    if (!c->cfg.allow_shape_deletion) {
        respond_error(c, 405, message_body("DELETE not allowed"));
        return;
    }
    std::string handle;
    if (c->req.handle) {
        handle = *c->req.handle;
    } else if (auto s = hub_.by_definition(c->def)) {
        handle = s->info().handle;
    }
    svc_.pool().submit([this, c, handle](PGconn *conn) {
        try {
            std::vector<std::string> handles;
            if (!handle.empty()) {
                handles.push_back(handle);
            } else {
                // No handle: every active shape on that table with the same where clause.
                auto r = pq_exec(conn,
                                 "SELECT handle FROM electric_sync.shapes WHERE status = 'active' AND schema_name = $1 "
                                 "AND table_name = $2 AND coalesce(where_clause, '') = $3",
                                 {c->req.table_schema, c->req.table_name, c->req.where.value_or("")});
                for (int i = 0; i < r.rows(); i++) handles.push_back(r.str(i, 0));
            }
            bool any = false;
            for (auto &h : handles) {
                auto r = pq_exec(conn, "SELECT electric_sync.delete_shape($1)", {h});
                if (r.rows() && r.str(0, 0) == "t") {
                    any = true;
                    if (auto s = hub_.by_handle(h)) hub_.publish_gone(s->info().id);
                }
            }
            if (!any) {
                respond_error(c, 404, message_body("No existing shape found"));
                return;
            }
            http::Response r;
            r.status = 202;
            r.set("cache-control", "no-cache");
            finish(c, std::move(r));
        } catch (const PqError &e) {
            respond_error(c, 400, message_body(e.what()));
        }
    });
}

}  // namespace es::svc

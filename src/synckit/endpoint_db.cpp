// GET /ws: the database side (endpoint.hpp): a subscription's read and a delta's write on a
// DB pool thread, and the listener thread (LISTEN electric_sync_synckit) for writes made in SQL.
#include "synckit/endpoint_internal.hpp"

#include "core/common/json_limits.hpp"
#include "pool/pq.hpp"

#include <algorithm>

#include <poll.h>
#include <unistd.h>

namespace es::synckit {

using json = nlohmann::json;
using svc::pq_exec;

namespace {

// A client's clock counts at most this toward the document's counter, so counters stay exact
// in JavaScript numbers (2^53) for 2^50 further writes whatever a client claims.
constexpr uint64_t kMaxClientClock = uint64_t(1) << 52;

FieldState field_from_row(const svc::PgResult &r, int row, int col0) {
    FieldState f;
    f.value_json = r.null(row, col0) ? std::string() : r.str(row, col0);
    f.deleted = r.str(row, col0 + 1) == "t";
    f.ts = std::stoll(r.str(row, col0 + 2));
    f.client_id = r.str(row, col0 + 3);
    f.counter = std::stoll(r.str(row, col0 + 4));
    return f;
}

}  // namespace

void Endpoint::subscribe_job(const ConnPtr &c, PGconn *db, const std::string &doc, const std::string &rid,
                             bool subscribe) {
    if (!db) {
        send_error(c, "UNAVAILABLE", "the database cannot be reached; retry later", json{{"documentId", doc}});
        return;
    }
    bool added = false;
    if (subscribe) {
        // Registered before the read, so that no write committed in between is missed (one
        // may arrive twice; the counters make that harmless).
        {
            std::lock_guard<std::mutex> g(c->mu);
            if (c->closed) return;
            if (c->docs.size() >= 1000 && !c->docs.count(doc)) {
                send_error(c, "INVALID_PAYLOAD", "too many subscriptions on one connection (1000)",
                           json{{"documentId", doc}});
                return;
            }
            added = c->docs.insert(doc).second;
        }
        if (added) {
            // Re-checked under both locks (mu_ first, as everywhere): a connection that closed
            // since must not be left in docs_ (on_closed has already removed it).
            std::lock_guard<std::mutex> g(mu_);
            std::lock_guard<std::mutex> g2(c->mu);
            if (c->closed) return;
            docs_[doc].conns.push_back(c);
        }
    }
    svc::PgResult r;
    try {
        r = pq_exec(db,
                    "SELECT d.counter, f.field, f.value::text, f.deleted, f.ts, f.client_id, f.counter "
                    "FROM electric_sync_docs.documents d LEFT JOIN electric_sync_docs.fields f ON f.document_id = d.id "
                    "WHERE d.id = $1 ORDER BY f.counter",
                    {doc});
    } catch (const std::exception &) {
        if (added) unsubscribe(c, doc);
        send_error(c, "UNAVAILABLE", "the document could not be read; retry later", json{{"documentId", doc}});
        return;
    }
    int64_t counter = 0;
    std::vector<FieldState> fields;
    if (r.rows() == 0) {
        if (!config().create_documents) {
            if (added) unsubscribe(c, doc);
            send_error(c, "DOCUMENT_NOT_FOUND",
                       "no such document (electric_sync.synckit_create_documents is off: create it with "
                       "electric_sync.document_create)",
                       json{{"documentId", doc}});
            return;
        }
    } else {
        counter = std::stoll(r.str(0, 0));
        for (int i = 0; i < r.rows(); i++) {
            if (r.null(i, 1)) continue;
            FieldState f = field_from_row(r, i, 2);
            f.field = r.str(i, 1);
            fields.push_back(std::move(f));
        }
    }
    send(c, MessageType::SyncResponse, sync_response_payload(doc, rid, fields, counter));
    // SDK 0.1.1 ignores the state of a SYNC_RESPONSE: every live field follows as a DELTA.
    for (auto &f : fields)
        if (!f.deleted) send(c, MessageType::Delta, delta_payload(doc, f));
    if (added) note_client(c, false);
}

void Endpoint::write_job(const ConnPtr &c, PGconn *db, const std::vector<Write> &writes) {
    if (!db) {
        for (auto &w : writes)
            send_error(c, "UNAVAILABLE", "the database cannot be reached; the write was not stored (retry)",
                       json{{"messageId", w.ack_id}});
        return;
    }
    bool create = config().create_documents;
    // electric_sync.synckit_origin (local to the write's transaction) tells the notify trigger
    // that this write is the worker's own: it sends the result to the subscribers itself, after
    // the commit, without a NOTIFY (whose cluster-wide commit lock would serialize all deltas).
    // The call's first argument depends on set_config's result so that set_config runs first.
    const char *sql =
        "SELECT a.value::text, a.deleted, a.ts, a.client_id, a.counter, a.won "
        "FROM (SELECT set_config('electric_sync.synckit_origin', $9, true) AS o) s, "
        "LATERAL electric_sync._synckit_apply(CASE WHEN s.o IS NOT NULL THEN $1 END, $2, $3::jsonb, $4::boolean, "
        "$5::bigint, $6, $7::bigint, $8::boolean) a";
    // One transaction for the group (several DELTAs that were waiting on this connection, or a
    // batch): one commit for all of them. A lone DELTA runs on its own (autocommit).
    bool txn = writes.size() > 1 || writes[0].batch;
    struct Outcome {
        bool missing = false;  // the document does not exist (synckit_create_documents off)
        std::string missing_doc;
        std::vector<std::pair<std::string, FieldState>> results;
    };
    std::vector<Outcome> out;
    // A deadlock with a concurrent SQL write of the same document (its trigger locks the field
    // row, then the document; _synckit_apply the other way round) is retried.
    for (int attempt = 0;; attempt++) {
        out.assign(writes.size(), Outcome{});
        try {
            if (txn) svc::pq_command(db, "BEGIN");
            for (size_t i = 0; i < writes.size(); i++) {
                for (auto &d : writes[i].deltas) {
                    std::optional<std::string> value;
                    if (!d.delete_field) value = d.value.dump(-1, ' ', false, json::error_handler_t::replace);
                    auto r = pq_exec(db, sql,
                                     {d.document_id, d.field, value, d.delete_field ? "true" : "false",
                                      std::to_string(d.timestamp), d.client_id,
                                      std::to_string(std::min<uint64_t>(clock_max(d.clock), kMaxClientClock)),
                                      create ? "true" : "false", std::to_string(c->id)});
                    if (r.rows() == 0) {
                        // Nothing was written for it (a batch names one document: none of its
                        // deltas can have been).
                        out[i].missing = true;
                        out[i].missing_doc = d.document_id;
                        out[i].results.clear();
                        break;
                    }
                    FieldState f = field_from_row(r, 0, 0);
                    f.field = d.field;
                    out[i].results.emplace_back(d.document_id, std::move(f));
                }
            }
            if (txn) svc::pq_command(db, "COMMIT");
            break;
        } catch (const std::exception &e) {
            if (txn && PQtransactionStatus(db) != PQTRANS_IDLE) {
                try {
                    svc::pq_command(db, "ROLLBACK");
                } catch (...) {}
            }
            std::string state;
            if (auto *pe = dynamic_cast<const svc::PgClientError *>(&e)) state = pe->sqlstate;
            if ((state == "40P01" || state == "40001") && attempt < 5) continue;
            if (writes.size() > 1) {
                // One write of the group failed: each on its own, so that only it fails.
                for (auto &w : writes) write_job(c, db, {w});
                return;
            }
            deltas_refused_ += writes[0].deltas.size();
            send_error(c, "WRITE_FAILED", "the write was not stored",
                       json{{"messageId", writes[0].ack_id}, {"sqlstate", state}});
            return;
        }
    }
    // Committed: per write, the sender gets the resulting values, then its ACK; then the other
    // subscribers get them (so that the ACK does not wait behind a large fan-out).
    for (size_t i = 0; i < writes.size(); i++) {
        const Write &w = writes[i];
        if (out[i].missing) {
            deltas_refused_ += w.deltas.size();
            send_error(c, "DOCUMENT_NOT_FOUND", "no such document (electric_sync.synckit_create_documents is off)",
                       json{{"documentId", out[i].missing_doc}, {"messageId", w.ack_id}});
            continue;
        }
        deltas_applied_ += w.deltas.size();
        for (auto &[doc, f] : out[i].results) send(c, MessageType::Delta, delta_payload(doc, f));
        if (!w.ack_id.empty() || w.batch)
            send(c, MessageType::Ack,
                 ack_payload(w.ack_id, w.batch ? std::optional<size_t>(w.deltas.size()) : std::nullopt, w.chunk_id));
        for (auto &[doc, f] : out[i].results) publish(doc, f, c->id);
    }
}

// ---------------------------------------------------------------------------------------------
// The listener: LISTEN electric_sync_synckit
// ---------------------------------------------------------------------------------------------

void Endpoint::listen_loop() {
    PGconn *conn = nullptr;
    bool connected_before = false;
    while (!stopping_) {
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            if (conn) PQfinish(conn);
            conn = PQconnectdb(conninfo_.c_str());
            bool ok = PQstatus(conn) == CONNECTION_OK;
            if (ok) {
                PGresult *r = PQexec(conn, "LISTEN electric_sync_synckit");
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            if (!ok) {
                PQfinish(conn);
                conn = nullptr;
                struct pollfd p = {pipe_[0], POLLIN, 0};
                poll(&p, 1, 1000);
                continue;
            }
            if (connected_before) {
                // Notifications sent while we were not listening are lost: send every field that
                // changed since the last counter each subscribed document was sent.
                std::vector<std::pair<std::string, int64_t>> docs;
                {
                    std::lock_guard<std::mutex> g(mu_);
                    for (auto &[d, s] : docs_) docs.emplace_back(d, s.last_counter);
                }
                for (auto &[d, last] : docs) {
                    try {
                        auto r = pq_exec(conn,
                                         "SELECT field, value::text, deleted, ts, client_id, counter FROM "
                                         "electric_sync_docs.fields WHERE document_id = $1 AND counter > $2 "
                                         "ORDER BY counter",
                                         {d, std::to_string(last)});
                        for (int i = 0; i < r.rows(); i++) {
                            FieldState f = field_from_row(r, i, 1);
                            f.field = r.str(i, 0);
                            publish(d, f);
                        }
                    } catch (const std::exception &) {
                        break;
                    }
                }
            }
            connected_before = true;
        }
        struct pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {pipe_[0], POLLIN, 0}};
        poll(fds, 2, 5000);
        if (fds[1].revents & POLLIN) {
            char buf[64];
            while (read(pipe_[0], buf, sizeof buf) > 0) {}
        }
        if (stopping_) break;
        if (!(fds[0].revents & (POLLIN | POLLERR | POLLHUP))) continue;
        if (!PQconsumeInput(conn)) continue;  // broken: reconnect
        while (PGnotify *n = PQnotifies(conn)) {
            std::string extra = n->extra ? n->extra : "";
            PQfreemem(n);
            notifications_++;
            auto p = json_limits::parse_bounded(extra);
            if (!p.ok() || !p.value.is_object()) continue;
            const json &j = p.value;
            try {
                std::string doc = j.at("d").get<std::string>();
                {
                    std::lock_guard<std::mutex> g(mu_);
                    if (!docs_.count(doc)) continue;  // nobody listens to this document
                }
                FieldState f;
                f.field = j.at("f").get<std::string>();
                f.counter = j.at("c").get<int64_t>();
                f.client_id = j.value("k", std::string("sql"));
                f.ts = j.value("t", int64_t(0));
                f.deleted = j.value("x", false);
                if (j.value("big", false)) {
                    auto r = pq_exec(conn,
                                     "SELECT value::text, deleted, ts, client_id, counter FROM "
                                     "electric_sync_docs.fields WHERE document_id = $1 AND field = $2",
                                     {doc, f.field});
                    if (r.rows() == 0) continue;  // deleted since: its own notification follows
                    FieldState row = field_from_row(r, 0, 0);
                    row.field = std::move(f.field);
                    f = std::move(row);
                } else if (!f.deleted) {
                    auto v = j.find("v");
                    f.value_json = (v == j.end()) ? "null" : v->dump(-1, ' ', false, json::error_handler_t::replace);
                }
                publish(doc, f);
            } catch (const std::exception &) {
            }
        }
    }
    if (conn) PQfinish(conn);
}

}  // namespace es::synckit

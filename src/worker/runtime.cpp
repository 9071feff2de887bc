// WorkerRuntime: readiness (extension present, slot created) and the consume loop step.
#include "pg/compat.hpp"
extern "C" {
#include "storage/latch.h"
#include "utils/timestamp.h"
}
#include "extension/guc.hpp"
#include "pg/spi.hpp"
#include "extension/shmem.hpp"
#include "worker/worker.hpp"

namespace es {

WorkerRuntime::WorkerRuntime(WorkerOptions opts, WorkerConfig cfg, Latch *latch)
    : opts_(std::move(opts)), latch_(latch) {
    service_ = std::make_unique<svc::Service>(opts_, std::move(cfg));
}

WorkerRuntime::~WorkerRuntime() { stop(); }

void WorkerRuntime::start() { service_->start(); }

void WorkerRuntime::stop() {
    if (service_) service_->stop();
}

void WorkerRuntime::note_error(const std::string &msg) {
    if (!es_shared) return;
    SpinLockAcquire(&es_shared->mutex);
    strlcpy(es_shared->last_error, msg.c_str(), sizeof es_shared->last_error);
    SpinLockRelease(&es_shared->mutex);
}

// Ready = the extension exists in our database and our slot exists (created here if missing).
// If the extension is dropped, the slot is dropped too so it never pins WAL.
// The SQL objects must be those this library was built for: after installing a new build, the
// worker waits (state "starting", worker_status.last_error says why) until
// ALTER EXTENSION electric_sync UPDATE, consuming nothing meanwhile (the slot keeps the WAL).
static bool version_ok(const std::optional<std::string> &installed) {
    return !installed || *installed == ES_EXT_VERSION;
}

bool WorkerRuntime::become_ready() {
    bool ext = false, slot = false;
    std::optional<std::string> version;
    {
        spi::Tx tx("electric_sync: checking readiness");
        auto v = spi::exec("SELECT extversion FROM pg_extension WHERE extname = 'electric_sync'");
        ext = !v.rows.empty();
        if (ext) version = v.rows[0][0];
        slot = !spi::exec(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1::text AND database = current_database()",
                    {opts_.slot_name})
                    .rows.empty();
        tx.commit();
    }
    if (!ext) {
        if (slot) {
            spi::Tx tx("electric_sync: dropping slot");
            spi::exec("SELECT pg_drop_replication_slot($1::text)", {opts_.slot_name});
            tx.commit();
        }
        return false;
    }
    if (!version_ok(version)) {
        std::string msg = "extension electric_sync " + version.value_or("?") + " is installed but this library is " +
            ES_EXT_VERSION + ": run ALTER EXTENSION electric_sync UPDATE";
        note_error(msg);
        if (!version_warned_) {
            ereport(WARNING,
                    (errmsg("electric_sync: %s", msg.c_str()),
                     errhint("The worker consumes nothing until the extension is updated; its slot keeps the WAL.")));
            version_warned_ = true;
        }
        return false;
    }
    version_warned_ = false;  // warn again if a later check finds a mismatch
    if (!slot) {
        spi::Tx tx("electric_sync: creating slot");
        spi::exec("SELECT pg_create_logical_replication_slot($1::text, 'electric_sync')", {opts_.slot_name});
        tx.commit();
        elog(LOG, "electric_sync: created logical replication slot \"%s\"", opts_.slot_name.c_str());
    }
    return true;
}

// The device key and the revoked devices (auth::DeviceState), for the HTTP side. At start and
// after each batch that decoded a devices_changed message.
void WorkerRuntime::load_devices() {
    spi::Tx tx("electric_sync: loading devices");
    auto r = spi::exec("SELECT secret, array_to_string(revoked, ',') FROM electric_sync._device_state()");
    tx.commit();
    std::string secret = r.rows.empty() ? "" : r.rows[0][0].value_or("");
    std::unordered_set<std::string> revoked;
    std::string list = r.rows.empty() ? "" : r.rows[0][1].value_or("");
    for (size_t i = 0; i < list.size();) {
        size_t e = list.find(',', i);
        if (e == std::string::npos) e = list.size();
        if (e > i) revoked.insert(list.substr(i, e - i));
        i = e + 1;
    }
    service_->set_devices(std::make_shared<const auth::DeviceState>(std::move(secret), std::move(revoked)));
}

bool WorkerRuntime::step() {
    if (!active_) {
        active_ = become_ready();
        if (!active_) {
            service_->set_active(false);
            pg_atomic_write_u32(&es_shared->state, ES_STATE_STARTING);
            return false;
        }
        load_devices();
    }
    bool more = consume();
    if (engine_ && engine_->take_devices_changed()) load_devices();
    // Serve only after the engine has run once: it publishes its position (which bounds valid
    // offsets) and the shapes it routes.
    if (active_ && !service_->active()) {
        service_->set_active(true);
        pg_atomic_write_u32(&es_shared->state, ES_STATE_ACTIVE);
    }
    return more;
}

// One engine batch. If the extension went away, go back to "starting" (and drop the slot).
bool WorkerRuntime::consume() {
    // The extension check is a transaction of its own: once a second is enough.
    TimestampTz now = GetCurrentTimestamp();
    if (now - last_ext_check_ >= 1000 * 1000) {
        last_ext_check_ = now;
        spi::Tx tx("electric_sync: checking extension");
        auto v = spi::exec("SELECT extversion FROM pg_extension WHERE extname = 'electric_sync'");
        tx.commit();
        bool ext = !v.rows.empty();
        if (!ext || !version_ok(v.rows[0][0])) {
            active_ = false;
            service_->set_active(false);
            service_->hub().clear();
            engine_.reset();
            return true;
        }
    }
    if (!engine_) engine_ = std::make_unique<ShapeEngine>(opts_.slot_name, service_->hub());
    return engine_->step(es_guc_batch_changes, es_guc_chunk_bytes,
                         static_cast<int64_t>(es_guc_max_shape_log_kb) * 1024);
}

}  // namespace es

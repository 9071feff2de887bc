// The worker's runtime: the HTTP service (threads) plus the main-thread engine.
#pragma once
#include "pg/compat.hpp"
#include "engine/engine.hpp"
#include "serve/service.hpp"

#include <memory>
#include <string>

struct Latch;

namespace es {

using WorkerConfig = svc::ServiceConfig;

struct WorkerOptions : svc::ServiceOptions {
    std::string slot_name;
    std::string database;
};

class WorkerRuntime {
public:
    WorkerRuntime(WorkerOptions opts, WorkerConfig cfg, Latch *latch);
    ~WorkerRuntime();
    void start();
    void stop();
    // One iteration on the main thread. Returns true if there is more work right away.
    bool step();
    bool active() const { return active_; }
    int http_port() const { return service_->http_port(); }
    void set_config(WorkerConfig cfg) { service_->set_config(std::move(cfg)); }
    void note_error(const std::string &msg);

private:
    bool become_ready();
    void load_devices();
    bool consume();

    WorkerOptions opts_;
    Latch *latch_;
    std::unique_ptr<svc::Service> service_;
    std::unique_ptr<ShapeEngine> engine_;
    bool active_ = false;
    bool version_warned_ = false;  // the extension/library version mismatch was logged
    int64_t last_ext_check_ = 0;
};

}  // namespace es

#include "core/common/json_limits.hpp"

#include <utility>
#include <vector>

namespace es::json_limits {

namespace {

using json = nlohmann::json;

// SAX handler building a DOM, refusing to open a container beyond max_depth. Mirrors
// nlohmann's own DOM builder (duplicate object keys: last wins).
class BoundedDom {
public:
    BoundedDom(json &root, int max_depth) : root_(root), max_depth_(max_depth) {}

    bool null() { return put(json(nullptr)) != nullptr; }
    bool boolean(bool v) { return put(json(v)) != nullptr; }
    bool number_integer(json::number_integer_t v) { return put(json(v)) != nullptr; }
    bool number_unsigned(json::number_unsigned_t v) { return put(json(v)) != nullptr; }
    bool number_float(json::number_float_t v, const json::string_t &) { return put(json(v)) != nullptr; }
    bool string(json::string_t &v) { return put(json(std::move(v))) != nullptr; }
    bool binary(json::binary_t &v) { return put(json::binary(std::move(v))) != nullptr; }

    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool key(json::string_t &k) {
        key_ = std::move(k);
        return true;
    }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool parse_error(std::size_t, const std::string &, const json::exception &ex) {
        error_ = ex.what();
        return false;
    }

    bool too_deep() const { return too_deep_; }
    const std::string &error() const { return error_; }

private:
    json &root_;
    int max_depth_;
    std::vector<json *> stack_;  // open containers, innermost last
    std::string key_;  // pending object key
    bool too_deep_ = false;
    std::string error_;

    json *put(json &&v) {
        if (stack_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        json *top = stack_.back();
        if (top->is_array()) {
            top->push_back(std::move(v));
            return &top->back();
        }
        json &slot = (*top)[key_];
        slot = std::move(v);
        return &slot;
    }
    bool open(json &&container) {
        if (int(stack_.size()) >= max_depth_) {
            too_deep_ = true;
            return false;
        }
        json *p = put(std::move(container));
        // Pointers stay valid: nothing is added to a parent while a child is open.
        stack_.push_back(p);
        return true;
    }
    bool close() {
        if (!stack_.empty()) stack_.pop_back();
        return true;
    }
};

}  // namespace

Result parse_bounded(std::string_view text, const Limits &limits) {
    Result r;
    if (text.size() > limits.max_bytes) {
        r.status = Status::TooLarge;
        r.message = "JSON text is larger than " + std::to_string(limits.max_bytes) + " bytes";
        return r;
    }
    try {
        json doc;
        BoundedDom dom(doc, limits.max_depth);
        bool ok = json::sax_parse(text.begin(), text.end(), &dom, json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
        if (ok) {
            r.value = std::move(doc);
            return r;
        }
        if (dom.too_deep()) {
            r.status = Status::TooDeep;
            r.message = "JSON nesting is deeper than " + std::to_string(limits.max_depth) + " levels";
        } else {
            r.status = Status::Syntax;
            r.message = dom.error().empty() ? std::string("invalid JSON") : dom.error();
        }
        // `doc` (a partial value of bounded depth) is destroyed here.
    } catch (const std::exception &e) {
        r.status = Status::Syntax;
        r.message = e.what();
    }
    r.value = nullptr;
    return r;
}

int depth_of(const nlohmann::json &value) {
    int max_depth = 0;
    std::vector<std::pair<const json *, int>> todo{{&value, 0}};
    while (!todo.empty()) {
        auto [v, d] = todo.back();
        todo.pop_back();
        if (!v->is_structured()) continue;
        int here = d + 1;
        if (here > max_depth) max_depth = here;
        for (auto &child : *v) todo.emplace_back(&child, here);
    }
    return max_depth;
}

}  // namespace es::json_limits

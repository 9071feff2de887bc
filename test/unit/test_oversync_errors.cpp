// es::oversync::contract_status: one status per contract error code, and every code the write
// path's SQL raises (os_raise('<code>', ...) in sql/install/) has one.
#include <catch2/catch.hpp>

#include "core/oversync/errors.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

using es::oversync::contract_status;

TEST_CASE("oversync errors: statuses of the contract's codes", "[oversync][errors]") {
    CHECK(contract_status("push_conflict") == 409);
    CHECK(contract_status("history_pruned") == 409);
    CHECK(contract_status("push_session_not_found") == 404);
    CHECK(contract_status("push_session_forbidden") == 403);
    CHECK(contract_status("initialization_expired") == 410);
    CHECK(contract_status("push_chunk_invalid") == 400);
    CHECK(contract_status("snapshot_session_create_failed") == 500);
    CHECK(contract_status("") == 0);
    CHECK(contract_status("no_such_code") == 0);
}

TEST_CASE("oversync errors: every code raised by the SQL has a status", "[oversync][errors]") {
    namespace fs = std::filesystem;
    const fs::path dir = "sql/install";  // make unit runs from the repository root
    REQUIRE(fs::is_directory(dir));
    std::set<std::string> codes;
    for (const auto &f : fs::directory_iterator(dir)) {
        std::ifstream in(f.path());
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        const std::string call = "os_raise('";
        for (size_t at = text.find(call); at != std::string::npos; at = text.find(call, at + 1)) {
            size_t start = at + call.size(), end = text.find('\'', start);
            if (end != std::string::npos) codes.insert(text.substr(start, end - start));
        }
    }
    REQUIRE(codes.size() >= 20);
    for (const auto &c : codes) {
        INFO("code raised in sql/install/: " << c);
        CHECK(contract_status(c) >= 400);
    }
}

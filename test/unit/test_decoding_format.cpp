// es::decoding: the parser of the electric_sync output plugin format (docs/decoding-format.md).
#include <catch2/catch.hpp>

#include "core/decode/decoding_format.hpp"

#include <string>

using namespace es::decoding;
using namespace std::string_literals;

namespace {
// The RELATION record of public.users(id int4 pk, name text not null, tags text[], "Mixed Col" varchar(10)).
const std::string kUsers =
    "R 16384 6:public 5:users d 4 2:id 23 -1 4:int4 b 0 t 1 1 4:name 25 -1 4:text b 0 t 0 0 "
    "4:tags 1009 -1 4:text b 1 f 0 0 9:Mixed Col 1043 14 7:varchar b 0 f 0 0";
}  // namespace

TEST_CASE("decoding: BEGIN and COMMIT", "[decoding]") {
    Record r = parse_record("B x=724 lsn=22251536 end=22252936 t=1796030222883738");
    CHECK(r.kind == RecordKind::Begin);
    CHECK(r.txn.xid == 724u);
    CHECK(r.txn.commit_lsn == 22251536u);
    CHECK(r.txn.end_lsn == 22252936u);
    CHECK(r.txn.commit_time_us == 1796030222883738);

    r = parse_record("C x=4294967295 lsn=18446744073709551615 end=1 t=-5");
    CHECK(r.kind == RecordKind::Commit);
    CHECK(r.txn.xid == 4294967295u);
    CHECK(r.txn.commit_lsn == 18446744073709551615ull);
    CHECK(r.txn.commit_time_us == -5);

    // Every field is optional (include-xids / include-lsn / include-timestamp off).
    r = parse_record("B");
    CHECK(r.kind == RecordKind::Begin);
    CHECK_FALSE(r.txn.xid);
    CHECK_FALSE(r.txn.commit_lsn);
    CHECK_FALSE(r.txn.end_lsn);
    CHECK_FALSE(r.txn.commit_time_us);
    r = parse_record("C lsn=5 end=6");
    CHECK_FALSE(r.txn.xid);
    CHECK(r.txn.end_lsn == 6u);
    // Unknown key=value fields are ignored (forward compatibility).
    r = parse_record("B x=1 future=abc");
    CHECK(r.txn.xid == 1u);
}

TEST_CASE("decoding: RELATION", "[decoding]") {
    Record r = parse_record(kUsers);
    REQUIRE(r.kind == RecordKind::Relation);
    const RelationInfo &rel = r.relation;
    CHECK(rel.oid == 16384u);
    CHECK(rel.schema == "public");
    CHECK(rel.name == "users");
    CHECK(rel.replica_identity == 'd');
    REQUIRE(rel.columns.size() == 4);
    CHECK(rel.columns[0].name == "id");
    CHECK(rel.columns[0].type_oid == 23u);
    CHECK(rel.columns[0].typmod == -1);
    CHECK(rel.columns[0].type_name == "int4");
    CHECK(rel.columns[0].type_kind == 'b');
    CHECK(rel.columns[0].dims == 0);
    CHECK(rel.columns[0].not_null);
    CHECK(rel.columns[0].pk_position == 1);
    CHECK(rel.columns[0].ident_position == 1);
    CHECK(rel.columns[2].type_name == "text");
    CHECK(rel.columns[2].dims == 1);
    CHECK_FALSE(rel.columns[2].not_null);
    CHECK(rel.columns[3].name == "Mixed Col");
    CHECK(rel.columns[3].typmod == 14);
    CHECK(rel.pk_columns() == std::vector<size_t>{0});
    CHECK(rel.column_index("Mixed Col") == 3);
    CHECK(rel.column_index("nope") == -1);

    // Names with spaces, quotes, dots, newlines; composite key in non-attnum order; no columns.
    r = parse_record("R 7 9:My \"Sch\"\n 3:a.b f 2 1:x 23 -1 4:int4 b 0 t 2 0 1:y 25 -1 4:mood e 0 t 1 0");
    CHECK(r.relation.schema == "My \"Sch\"\n");
    CHECK(r.relation.name == "a.b");
    CHECK(r.relation.replica_identity == 'f');
    CHECK(r.relation.columns[1].type_kind == 'e');
    CHECK(r.relation.pk_columns() == std::vector<size_t>{1, 0});
    r = parse_record("R 8 1:s 1:t n 0");
    CHECK(r.relation.columns.empty());
    CHECK(r.relation.pk_columns().empty());
}

TEST_CASE("decoding: INSERT with tricky values", "[decoding]") {
    std::string text = "I 16384 N 6 1:1 14:line\nbreak \"q\" n 0: 5:a\tb c 2:\\x";
    Record r = parse_record(text);
    REQUIRE(r.kind == RecordKind::Insert);
    const Change &c = r.change;
    CHECK(c.relid == 16384u);
    CHECK(c.has_new);
    CHECK(c.old_kind == OldKind::None);
    REQUIRE(c.new_values.size() == 6);
    CHECK(c.new_values[0].text == "1");
    CHECK(c.new_values[1].text == "line\nbreak \"q\"");
    CHECK(c.new_values[2].is_null());
    CHECK(c.new_values[3].is_text());  // empty string is not NULL
    CHECK(c.new_values[3].text.empty());
    CHECK(c.new_values[4].text == "a\tb c");
    CHECK(c.new_values[5].text == "\\x");
    // Values that look like markers are text when length-prefixed.
    r = parse_record("I 1 N 4 1:n 1:u 1:- 3:1:2");
    CHECK(r.change.new_values[0].text == "n");
    CHECK(r.change.new_values[1].text == "u");
    CHECK(r.change.new_values[2].text == "-");
    CHECK(r.change.new_values[3].text == "1:2");
    // Multi-byte UTF-8: lengths are in bytes.
    r = parse_record("I 1 N 1 5:h\xc3\xa9ll");
    CHECK(r.change.new_values[0].text == "h\xc3\xa9ll");
}

TEST_CASE("decoding: UPDATE and DELETE old tuples", "[decoding]") {
    Record r = parse_record("U 16384 N 4 1:1 3:Bob u 1:x");
    REQUIRE(r.kind == RecordKind::Update);
    CHECK(r.change.old_kind == OldKind::None);
    CHECK(r.change.old_values.empty());
    CHECK(r.change.new_values[2].is_unchanged_toast());
    CHECK_FALSE(r.change.new_values[2].is_null());

    r = parse_record("U 16384 K 4 1:2 - - - N 4 1:3 3:Ann n 0:");
    CHECK(r.change.old_kind == OldKind::Key);
    REQUIRE(r.change.old_values.size() == 4);
    CHECK(r.change.old_values[0].text == "2");
    CHECK(r.change.old_values[1].is_absent());
    CHECK(r.change.new_values[0].text == "3");

    r = parse_record("U 5 O 2 1:1 3:old N 2 1:1 3:new");
    CHECK(r.change.old_kind == OldKind::Full);
    CHECK(r.change.old_values[1].text == "old");
    CHECK(r.change.new_values[1].text == "new");

    r = parse_record("D 16384 K 4 1:1 - - -");
    REQUIRE(r.kind == RecordKind::Delete);
    CHECK_FALSE(r.change.has_new);
    CHECK(r.change.old_kind == OldKind::Key);
    r = parse_record("D 5 O 2 1:1 n");
    CHECK(r.change.old_kind == OldKind::Full);
    CHECK(r.change.old_values[1].is_null());
    // REPLICA IDENTITY NOTHING: a DELETE without old data.
    r = parse_record("D 5");
    CHECK(r.change.old_kind == OldKind::None);
    CHECK(r.change.old_values.empty());
}

TEST_CASE("decoding: TRUNCATE and MESSAGE", "[decoding]") {
    Record r = parse_record("T cascade=f restart=t 2 16384 16390");
    REQUIRE(r.kind == RecordKind::Truncate);
    CHECK_FALSE(r.truncate.cascade);
    CHECK(r.truncate.restart_identity);
    CHECK(r.truncate.relids == std::vector<uint32_t>{16384, 16390});
    r = parse_record("T 1 9");
    CHECK(r.truncate.relids == std::vector<uint32_t>{9});

    r = parse_record("M trans=t lsn=22257272 13:electric_sync 12:{\"a\": \"b c\"}");
    REQUIRE(r.kind == RecordKind::Message);
    CHECK(r.message.transactional);
    CHECK(r.message.lsn == 22257272u);
    CHECK(r.message.prefix == "electric_sync");
    CHECK(r.message.content == "{\"a\": \"b c\"}");
    CHECK_FALSE(r.message.binary);
    r = parse_record("M trans=f 5:other 0:");
    CHECK_FALSE(r.message.transactional);
    CHECK_FALSE(r.message.lsn);
    CHECK(r.message.content.empty());
    r = parse_record("M trans=f lsn=1 5:other x3:00fF0a");
    CHECK(r.message.binary);
    CHECK(r.message.content == "\0\xff\n"s);
}

TEST_CASE("decoding: malformed records are rejected", "[decoding]") {
    for (std::string bad : {
             "",
             "X",
             "B ",
             "B x=",
             "B x=abc",
             "B x=4294967296",
             "B lsn=18446744073709551616",
             "B x",
             "B  x=1",
             "Bx=1",
             "C t=1.5",
             "R",
             "R 1",
             "R 1 1:s 1:t d",
             "R 1 1:s 1:t d 1",
             "R 1 1:s 1:t d 1 1:x 23 -1 4:int4 b 0 x 0 0",
             "R 1 1:s 1:t d 0 extra",
             "R 1 2:s 1:t d 0",
             "R 1 1:s 1:t dd 0",
             "R 1 1:s 1:t d 1 1:x 23 a 4:int4 b 0 t 0 0",
             "I",
             "I x",
             "I 1",
             "I 1 N",
             "I 1 N 2 1:a",
             "I 1 N 1 2:a",
             "I 1 N 1 1:ab",
             "I 1 N 1 a",
             "I 1 N 1 nn",
             "I 1 N 1 -",
             "I 1 N 1 1:a ",
             "I 1 K 1 1:a N 1 1:a",
             "I 1 N 1 1:a N 1 1:a",
             "I 1 Z 1 1:a",
             "I 1 N 1 99999999999999999999:a",
             "I 1 N 1 :a",
             "U 1",
             "U 1 K 1 1:a",
             "U 1 N 1 1:a K 1 1:a",
             "U 1 O 1 - N 1 1:a",
             "D 1 N 1 1:a",
             "D 1 K 1 1:a K 1 1:a",
             "T",
             "T 0",
             "T 2 1",
             "T cascade=x 1 1",
             "T 1 1 x",
             "M",
             "M 1:p 1:c",
             "M trans=t 1:p",
             "M trans=t 1:p x2:00",
             "M trans=t 1:p x1:zz",
             "M trans=maybe 1:p 0:",
         }) {
        INFO("record: " << bad);
        CHECK_THROWS_AS(parse_record(bad), ParseError);
    }
}

TEST_CASE("decoding: Decoder tracks relations and framing", "[decoding]") {
    Decoder d;
    CHECK(d.feed("B x=9 lsn=100 end=120 t=5").kind == RecordKind::Begin);
    CHECK(d.in_transaction());
    CHECK(d.transaction().commit_lsn == 100u);
    CHECK(d.feed(kUsers).kind == RecordKind::Relation);
    REQUIRE(d.relation(16384) != nullptr);
    CHECK(d.relation(16384)->name == "users");
    CHECK(d.relation(1) == nullptr);

    const Record &ins = d.feed("I 16384 N 4 1:1 3:Ann 5:{a,b} 1:x");
    CHECK(ins.kind == RecordKind::Insert);
    CHECK(d.relation_of(ins.change).schema == "public");
    CHECK(d.change_index() == 0);
    d.feed("U 16384 K 4 1:1 - - - N 4 1:2 3:Ann u 1:x");
    CHECK(d.change_index() == 1);
    d.feed("M trans=t lsn=110 13:electric_sync 2:{}");
    d.feed("T cascade=f restart=f 1 16384");
    CHECK(d.change_index() == 2);
    CHECK_THROWS_AS(d.feed("I 16384 N 3 1:1 1:b 1:c"), ParseError);  // wrong value count
    CHECK_THROWS_AS(d.feed("I 99 N 1 1:1"), ParseError);  // relation never described
    CHECK_THROWS_AS(d.feed("T 1 99"), ParseError);
    CHECK_THROWS_AS(d.feed("B x=10"), ParseError);  // nested BEGIN
    CHECK(d.feed("C x=9 lsn=100 end=120 t=5").kind == RecordKind::Commit);
    CHECK_FALSE(d.in_transaction());
    CHECK(d.transaction().xid == 9u);

    CHECK_THROWS_AS(d.feed("I 16384 N 4 1:1 3:Ann n n"), ParseError);  // change outside a transaction
    CHECK_THROWS_AS(d.feed("C"), ParseError);
    CHECK_THROWS_AS(d.feed("M trans=t 1:p 0:"), ParseError);
    CHECK(d.feed("M trans=f 1:p 0:").kind == RecordKind::Message);

    // A changed description replaces the old one.
    d.feed("B");
    d.feed("R 16384 6:public 5:users f 1 2:id 23 -1 4:int4 b 0 t 1 0");
    CHECK(d.relation(16384)->replica_identity == 'f');
    CHECK(d.feed("D 16384 O 1 1:1").change.old_kind == OldKind::Full);
    CHECK(d.change_index() == 0);
    d.feed("C");

    d.reset();
    CHECK(d.relation(16384) == nullptr);
    CHECK_FALSE(d.in_transaction());
}

TEST_CASE("decoding: counts and lengths larger than the record are ParseErrors (fuzz findings)", "[decoding]") {
    // Found by fuzz_decoding_format: a TRUNCATE count reserved up to 16 GiB before parsing.
    // (Rejected from the count, before any allocation: the message says so.)
    CHECK_THROWS_AS(parse_record("T 4294967295 1"), ParseError);
    CHECK_THROWS_WITH(parse_record("T 4294967295 1"), Catch::Contains("relation count exceeds the record"));
    CHECK_THROWS_AS(parse_record("T cascade=t 3 1 2"), ParseError);
    CHECK(parse_record("T 2 1 2").truncate.relids.size() == 2);
    // Column and value counts are checked against the record before the vectors are sized.
    CHECK_THROWS_WITH(parse_record("R 16384 6:public 5:users d 1664 2:id"),
                      Catch::Contains("column count exceeds the record"));
    CHECK_THROWS_WITH(parse_record("I 16384 N 1664 1:1"), Catch::Contains("value count exceeds the record"));
    CHECK(parse_record("I 16384 N 2 n n").change.new_values.size() == 2);
    // A binary message length whose double wraps around (2^63+1 -> 2): std::length_error before.
    CHECK_THROWS_AS(parse_record("M trans=f 5:other x9223372036854775809:00"), ParseError);
    CHECK_THROWS_AS(parse_record("M trans=f 5:other x18446744073709551615:"), ParseError);
}

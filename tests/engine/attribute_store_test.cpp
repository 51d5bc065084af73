#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "engine/temp_directory.h"
#include "quiver/attribute_store.h"
#include "quiver/error.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

using Tags = std::vector<std::string>;

std::vector<std::uint64_t> ids_of(const AttributeStore& store, const std::string& expression) {
  auto selected = store.select(expression);
  return {selected->ids().begin(), selected->ids().end()};
}

// A small catalogue: ids 1..6 with category, price, stock, tags; id 7 has only a name.
AttributeStore shop() {
  auto store = AttributeStore::in_memory();
  std::vector<std::uint64_t> ids{1, 2, 3, 4, 5, 6, 7};
  std::vector<Attributes> rows{
      {{"category", std::string("shoes")}, {"price", 30.0}, {"stock", std::int64_t{5}}, {"tags", Tags{"sale", "new"}}},
      {{"category", std::string("shoes")}, {"price", 80.0}, {"stock", std::int64_t{0}}, {"tags", Tags{"new"}}},
      {{"category", std::string("hats")}, {"price", 20.0}, {"stock", std::int64_t{12}}, {"tags", Tags{"sale"}}},
      {{"category", std::string("hats")}, {"price", 49.99}, {"stock", std::int64_t{3}}, {"tags", Tags{}}},
      {{"category", std::string("bags")}, {"price", 50.0}, {"stock", std::int64_t{7}}, {"tags", Tags{"sale", "eco"}}},
      {{"category", std::string("shoes")}, {"price", 45.0}, {"stock", std::int64_t{1}}},
      {{"name", std::string("gift card")}},
  };
  store.set_many(ids, rows);
  return store;
}

std::string error_of(const AttributeStore& store, const std::string& expression) {
  try {
    store.select(expression);
  } catch (const InvalidArgument& error) {
    return error.what();
  }
  return {};
}

}  // namespace

TEST_CASE("attributes of every type round-trip; tags come back sorted without duplicates") {
  auto store = AttributeStore::in_memory();
  store.set(42, "title", std::string("red \"runner\" shoe"));
  store.set(42, "count", std::int64_t{-9'000'000'000});
  store.set(42, "price", 19.25);
  store.set(42, "tags", Tags{"sale", "new", "sale"});
  std::uint64_t big = 0xFFFF'FFFF'FFFF'FFF0ull;  // above INT64_MAX: ids are stored bit for bit
  store.set(big, {{"title", std::string("x")}});

  auto got = store.get(42);
  CHECK(std::get<std::string>(got.at("title")) == "red \"runner\" shoe");
  CHECK(std::get<std::int64_t>(got.at("count")) == -9'000'000'000);
  CHECK(std::get<double>(got.at("price")) == 19.25);
  CHECK(std::get<Tags>(got.at("tags")) == Tags{"new", "sale"});
  CHECK(std::get<std::string>(store.get(big).at("title")) == "x");
  CHECK(store.contains(big));
  CHECK(store.size() == 2);
  CHECK(store.schema().at("count") == AttributeType::Int);
  CHECK(store.schema().at("tags") == AttributeType::Tags);
  CHECK(ids_of(store, R"(title = "x")") == std::vector<std::uint64_t>{big});

  // set replaces the previous value, tag lists included.
  store.set(42, "tags", Tags{"eco"});
  store.set(42, "price", 21.5);
  got = store.get(42);
  CHECK(std::get<Tags>(got.at("tags")) == Tags{"eco"});
  CHECK(std::get<double>(got.at("price")) == 21.5);
}

TEST_CASE("erase removes an id's attributes; get of an id without attributes throws NotFound naming it") {
  auto store = shop();
  CHECK(store.erase(3));
  CHECK_FALSE(store.erase(3));
  CHECK_FALSE(store.contains(3));
  CHECK_THROWS_WITH_AS(store.get(3), doctest::Contains("id 3"), NotFound);
  CHECK(store.erase(1, "tags"));
  CHECK_FALSE(store.erase(1, "tags"));
  CHECK_FALSE(store.get(1).contains("tags"));
  CHECK(store.erase(7, "name"));
  CHECK_FALSE(store.contains(7));  // no attributes left
  CHECK(store.size() == 5);
}

TEST_CASE("bad writes throw InvalidArgument and write nothing") {
  auto store = shop();
  auto before = store.generation();
  CHECK_THROWS_WITH_AS(store.set(1, "price", std::string("cheap")), doctest::Contains("'price' holds double"),
                       InvalidArgument);
  CHECK_THROWS_AS(store.set(1, "price", std::int64_t{3}), InvalidArgument);
  CHECK_THROWS_AS(store.set(1, "bad name", std::int64_t{3}), InvalidArgument);
  CHECK_THROWS_AS(store.set(1, "AND", std::int64_t{3}), InvalidArgument);
  CHECK_THROWS_AS(store.set(1, "", std::int64_t{3}), InvalidArgument);
  CHECK_THROWS_AS(store.set(1, "ratio", std::nan("")), InvalidArgument);
  // One transaction: the valid new attribute in the same call is rolled back too, and
  // its name is forgotten.
  CHECK_THROWS_AS(store.set(9, {{"colour", std::string("red")}, {"stock", 1.5}}), InvalidArgument);
  CHECK_FALSE(store.contains(9));
  CHECK_FALSE(store.schema().contains("colour"));
  CHECK(store.generation() == before);
  std::vector<std::uint64_t> two{1, 2};
  std::vector<Attributes> one(1);
  CHECK_THROWS_AS(store.set_many(two, one), InvalidArgument);
}

TEST_CASE("filters select the right ids for every operator") {
  auto store = shop();
  using Ids = std::vector<std::uint64_t>;
  CHECK(ids_of(store, R"(category = "shoes")") == Ids{1, 2, 6});
  CHECK(ids_of(store, R"(category != "shoes")") == Ids{3, 4, 5});
  CHECK(ids_of(store, "price < 50") == Ids{1, 3, 4, 6});
  CHECK(ids_of(store, "price <= 50") == Ids{1, 3, 4, 5, 6});
  CHECK(ids_of(store, "price > 49.99") == Ids{2, 5});
  CHECK(ids_of(store, "price >= 49.99") == Ids{2, 4, 5});
  CHECK(ids_of(store, "price = 50") == Ids{5});  // int literal against double values
  CHECK(ids_of(store, "stock >= 5.5") == Ids{3, 5});  // decimal literal against int values
  CHECK(ids_of(store, R"(category < "hats")") == Ids{5});  // bytewise string order
  CHECK(ids_of(store, R"(category IN ("hats", "bags"))") == Ids{3, 4, 5});
  CHECK(ids_of(store, "stock IN (0, 1, 99)") == Ids{2, 6});
  CHECK(ids_of(store, R"(tags CONTAINS "sale")") == Ids{1, 3, 5});
  CHECK(ids_of(store, R"(category = "shoes" AND price < 50 AND tags CONTAINS "sale")") == Ids{1});
  CHECK(ids_of(store, R"(category = "bags" OR stock = 0)") == Ids{2, 5});
  // NOT complements within all ids with attributes (7 has no category); != does not.
  CHECK(ids_of(store, R"(NOT category = "shoes")") == Ids{3, 4, 5, 7});
  CHECK(ids_of(store, R"(NOT tags CONTAINS "sale")") == Ids{2, 4, 6, 7});
  // Precedence: NOT > AND > OR.
  CHECK(ids_of(store, R"(category = "hats" OR category = "shoes" AND price > 40)") == Ids{2, 3, 4, 6});
  CHECK(ids_of(store, R"((category = "hats" OR category = "shoes") AND price > 40)") == Ids{2, 4, 6});
  CHECK(ids_of(store, R"(NOT category = "shoes" AND price > 40)") == Ids{4, 5});
  CHECK(ids_of(store, R"(NOT (category = "shoes" AND price > 40))") == Ids{1, 3, 4, 5, 7});
  CHECK(ids_of(store, R"(category = "boots")").empty());
}

TEST_CASE("filters on unknown attributes or mismatched types throw InvalidArgument") {
  auto store = shop();
  CHECK(error_of(store, R"(colour = "red")").find("unknown attribute 'colour'") != std::string::npos);
  CHECK(error_of(store, R"(colour = "red")").find("category, name, price, stock, tags") != std::string::npos);
  CHECK(error_of(store, R"(price = "cheap")").find("'price' holds double values") != std::string::npos);
  CHECK(error_of(store, "category < 3").find("'category' holds string values") != std::string::npos);
  CHECK(error_of(store, R"(tags = "sale")").find("tag list; test it with CONTAINS") != std::string::npos);
  CHECK(error_of(store, R"(tags IN ("sale"))").find("tag list") != std::string::npos);
  CHECK(error_of(store, R"(category CONTAINS "s")").find("CONTAINS needs a tag list") != std::string::npos);
  CHECK(error_of(store, R"(stock IN (1, "two"))").find("'stock' holds int64") != std::string::npos);
  CHECK(error_of(store, "price <").find("expected a value after '<' at column 8") != std::string::npos);
}

TEST_CASE("selections are cached per normalised expression until the next write") {
  auto store = shop();
  auto first = store.select(R"(category = "shoes" AND price < 50)");
  auto again = store.select(R"(price<50 and category="shoes")");
  CHECK(first.get() == again.get());  // same entry: the normal form matched
  CHECK(first->ids().size() == 2);

  auto generation = store.generation();
  store.set(3, "category", std::string("shoes"));  // hats -> shoes, price 20
  CHECK(store.generation() == generation + 1);
  auto after = store.select(R"(category = "shoes" AND price < 50)");
  CHECK(after.get() != first.get());
  CHECK(std::vector<std::uint64_t>(after->ids().begin(), after->ids().end()) == std::vector<std::uint64_t>{1, 3, 6});
  CHECK(first->ids().size() == 2);  // a held selection is a snapshot

  store.erase(1);
  CHECK(ids_of(store, R"(category = "shoes" AND price < 50)") == std::vector<std::uint64_t>{3, 6});
  std::vector<std::uint64_t> new_ids{8};
  std::vector<Attributes> new_rows(1);
  new_rows[0]["category"] = std::string("shoes");
  new_rows[0]["price"] = 10.0;
  store.set_many(new_ids, new_rows);
  CHECK(ids_of(store, R"(category = "shoes" AND price < 50)") == std::vector<std::uint64_t>{3, 6, 8});
}

TEST_CASE("AllowedIds answers allows() for dense and sparse id sets") {
  AllowedIds dense({5, 1, 3, 3, 100});
  CHECK(dense.size() == 4);
  CHECK(dense.allows(1));
  CHECK(dense.allows(100));
  CHECK_FALSE(dense.allows(2));
  CHECK_FALSE(dense.allows(1'000'000));
  AllowedIds sparse({1ull << 60, 7});
  CHECK(sparse.allows(1ull << 60));
  CHECK(sparse.allows(7));
  CHECK_FALSE(sparse.allows(8));
  CHECK(AllowedIds().empty());
}

TEST_CASE("a store persists across reopen") {
  TempDirectory directory;
  auto path = directory.path() / "meta.sqlite";
  {
    auto store = AttributeStore::open(path);
    std::vector<std::uint64_t> ids;
    std::vector<Attributes> rows;
    for (std::uint64_t i = 0; i < 500; ++i) {
      ids.push_back(i);
      rows.push_back({{"bucket", static_cast<std::int64_t>(i % 10)}, {"label", "item-" + std::to_string(i)},
                      {"tags", i % 2 == 0 ? Tags{"even"} : Tags{"odd", "x"}}});
    }
    store.set_many(ids, rows);
    store.set(7, "score", 0.75);
    CHECK(store.path() == path);
  }
  CHECK(std::filesystem::exists(path));
  auto store = AttributeStore::open(path);
  CHECK(store.size() == 500);
  CHECK(store.schema().size() == 4);
  auto got = store.get(7);
  CHECK(std::get<std::int64_t>(got.at("bucket")) == 7);
  CHECK(std::get<std::string>(got.at("label")) == "item-7");
  CHECK(std::get<Tags>(got.at("tags")) == Tags{"odd", "x"});
  CHECK(std::get<double>(got.at("score")) == 0.75);
  CHECK(store.select(R"(bucket = 3 AND tags CONTAINS "odd")")->size() == 50);
  store.set(7, "score", 0.5);  // writable after reopen
  CHECK(std::get<double>(store.get(7).at("score")) == 0.5);
}

TEST_CASE("a file that is not an attribute store throws CorruptFile naming it") {
  TempDirectory directory;
  auto garbage = directory.path() / "garbage.sqlite";
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 37));
  }
  std::string garbage_name = garbage.string();
  CHECK_THROWS_WITH_AS(AttributeStore::open(garbage), doctest::Contains(garbage_name.c_str()), CorruptFile);

  // A real SQLite database written by something else.
  auto foreign = directory.path() / "foreign.sqlite";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(foreign.string().c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK_THROWS_WITH_AS(AttributeStore::open(foreign), doctest::Contains("not a quiver attribute store"), CorruptFile);

  // A store from a newer format.
  auto newer = directory.path() / "newer.sqlite";
  { AttributeStore::open(newer); }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(newer.string().c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK_THROWS_AS(AttributeStore::open(newer), IncompatibleVersion);

  CHECK_THROWS_AS(AttributeStore::open(directory.path()), InvalidArgument);
  CHECK_THROWS_AS(AttributeStore::open(directory.path() / "missing-dir" / "meta.sqlite"), IoError);
}

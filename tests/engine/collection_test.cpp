#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/temp_directory.h"
#include "filters/synthetic_relevance.h"
#include "quiver/collection.h"
#include "quiver/error.h"
#include "quiver/relevance_filter.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

constexpr std::size_t dim = 16;

IndexSpec test_spec(Metric metric = Metric::L2) { return IndexSpec::parse("hnsw16,efc64", metric, dim); }

CollectionOptions manual_checkpoints() {
  CollectionOptions options;
  options.checkpoint_every = 0;
  options.threads = 2;
  return options;
}

// Each (id, version) has its own seeded vector and attributes, so a reader can tell
// which write of an id it sees.
std::vector<float> vector_for(std::uint64_t id, std::uint64_t version = 0) {
  std::mt19937_64 rng(id * 1000003 + version);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> vector(dim);
  for (float& v : vector) v = normal(rng);
  vector[id % dim] += 3.0f;  // loose clusters, so neighbourhoods are not all alike
  return vector;
}

std::string label_for(std::uint64_t id, std::uint64_t version) {
  return "item_" + std::to_string(id) + "_v" + std::to_string(version);
}

// Tags given unsorted and with a duplicate: the collection stores them as a set.
Attributes attributes_for(std::uint64_t id, std::uint64_t version = 0) {
  return {{"group", std::int64_t(id % 5)},
          {"label", label_for(id, version)},
          {"weight", 0.5 * double(id) + double(version)},
          {"tags", std::vector<std::string>{"v" + std::to_string(version), "t" + std::to_string(id % 3),
                                            "v" + std::to_string(version)}}};
}

Attributes stored_attributes(std::uint64_t id, std::uint64_t version = 0) {
  auto attributes = attributes_for(id, version);
  std::vector<std::string> tags{"t" + std::to_string(id % 3), "v" + std::to_string(version)};
  std::sort(tags.begin(), tags.end());
  attributes["tags"] = tags;
  return attributes;
}

std::vector<UpsertItem> items_for(const std::vector<std::uint64_t>& ids, std::uint64_t version = 0) {
  std::vector<UpsertItem> items;
  for (auto id : ids) items.push_back({id, vector_for(id, version), attributes_for(id, version)});
  return items;
}

double squared_distance(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t j = 0; j < a.size(); ++j) sum += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
  return sum;
}

// The k nearest live ids by brute force (L2).
std::vector<std::uint64_t> exact_top(const std::map<std::uint64_t, std::vector<float>>& live,
                                     std::span<const float> query, std::size_t k) {
  std::vector<std::pair<double, std::uint64_t>> scored;
  for (const auto& [id, vector] : live) scored.emplace_back(squared_distance(query, vector), id);
  std::sort(scored.begin(), scored.end());
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < std::min(k, scored.size()); ++i) ids.push_back(scored[i].second);
  return ids;
}

std::vector<std::uint64_t> ids_of(const std::vector<CollectionHit>& hits) {
  std::vector<std::uint64_t> ids;
  for (const auto& hit : hits) ids.push_back(hit.hit.id);
  return ids;
}

CollectionSearchRequest request_for(std::vector<float> vector, std::size_t k = 10, std::string filter = {}) {
  CollectionSearchRequest request;
  request.vector = std::move(vector);
  request.k = k;
  request.filter = std::move(filter);
  return request;
}

// The one id whose label attribute names (id, version), found through the attribute
// store (not collection.sqlite): what a filtered search sees.
std::vector<std::uint64_t> ids_labelled(const Collection& collection, std::uint64_t id, std::uint64_t version) {
  return ids_of(collection.search(request_for(vector_for(id, version), 5,
                                              "label = \"" + label_for(id, version) + "\"")));
}

}  // namespace

TEST_CASE("collection: create, upsert, search, get and remove round trip") {
  TempDirectory temp;
  auto collection = Collection::create(temp.path() / "c", "products", test_spec(), manual_checkpoints());
  CHECK(collection.name() == "products");
  CHECK(collection.spec().to_string() == test_spec().to_string());
  CHECK(collection.search(request_for(vector_for(1))).empty());  // empty: no hits, no error

  auto ids = id_range(100, 300);
  auto sequence = collection.upsert(items_for(ids));
  CHECK(sequence == 1);
  auto stats = collection.stats();
  CHECK(stats.size == 300);
  CHECK(stats.last_sequence == 1);
  CHECK(stats.log_entries == 300);
  CHECK(stats.checkpoint_sequence == 0);
  CHECK(stats.memory_bytes > 300 * dim * sizeof(float));

  for (std::uint64_t id = 100; id < 400; id += 23) {
    auto record = collection.get(id);
    REQUIRE(record);
    CHECK(record->vector == vector_for(id));
    CHECK(record->attributes == stored_attributes(id));
    CHECK(collection.contains(id));

    auto hits = collection.search(request_for(vector_for(id), 5));
    REQUIRE(hits.size() == 5);
    CHECK(hits[0].hit.id == id);
    CHECK(hits[0].hit.score == doctest::Approx(0.0).epsilon(1e-4));
    CHECK(hits[0].hit.relevance == no_relevance);
    CHECK_FALSE(hits[0].attributes);  // not requested
    for (std::size_t i = 1; i < hits.size(); ++i) CHECK(hits[i].hit.score >= hits[i - 1].hit.score);
  }

  SUBCASE("a filter admits only matching ids, and attributes come back when asked for") {
    auto request = request_for(vector_for(7), 100, "group = 2 AND tags CONTAINS \"t1\"");
    request.with_attributes = true;
    auto hits = collection.search(request);
    std::size_t expected = 0;
    for (auto id : ids) expected += (id % 5 == 2 && id % 3 == 1) ? 1 : 0;
    CHECK(hits.size() == expected);  // 20 ids: the exact path, perfect recall
    for (const auto& hit : hits) {
      CHECK(hit.hit.id % 5 == 2);
      CHECK(hit.hit.id % 3 == 1);
      REQUIRE(hit.attributes);
      CHECK(*hit.attributes == stored_attributes(hit.hit.id));
    }
  }

  SUBCASE("k above the size returns every vector") {
    auto small = Collection::create(temp.path() / "small", "small", test_spec(), manual_checkpoints());
    small.upsert(items_for({1, 2, 3}));
    CHECK(small.search(request_for(vector_for(1), 10)).size() == 3);
  }

  SUBCASE("remove drops vectors and attributes; unknown ids are skipped") {
    std::vector<std::uint64_t> gone{100, 150, 151, 399, 5000};
    CHECK(collection.remove(gone) == 4);
    CHECK(collection.remove(gone) == 0);
    CHECK(collection.stats().size == 296);
    CHECK(collection.stats().last_sequence == 2);  // the empty removal logged nothing
    CHECK(collection.stats().log_entries == 304);
    for (auto id : gone) {
      CHECK_FALSE(collection.get(id));
      CHECK_FALSE(collection.contains(id));
      for (const auto& hit : collection.search(request_for(vector_for(id), 20))) CHECK(hit.hit.id != id);
    }
    CHECK(ids_labelled(collection, 150, 0).empty());
    CHECK(ids_labelled(collection, 152, 0) == std::vector<std::uint64_t>{152});
  }
}

TEST_CASE("collection: upserting an existing id replaces its vector and attributes") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  std::vector<float> first = vector_for(7, 1);
  std::vector<float> second = vector_for(7, 2);
  {
    auto collection = Collection::create(path, "c", test_spec(), manual_checkpoints());
    collection.upsert(items_for(id_range(0, 50)));
    std::vector<UpsertItem> one{{7, first, {{"color", std::string("red")}, {"size", std::int64_t(3)}}}};
    collection.upsert(one);
    one = {{7, second, {{"color", std::string("blue")}}}};
    collection.upsert(one);
    CHECK(collection.stats().size == 50);
  }
  // Checked again after a reopen, where the replacements come from replay.
  for (int pass = 0; pass < 2; ++pass) {
    CAPTURE(pass);
    auto collection = Collection::open(path, manual_checkpoints());
    auto record = collection.get(7);
    REQUIRE(record);
    CHECK(record->vector == second);
    CHECK(record->attributes == Attributes{{"color", std::string("blue")}});
    CHECK(collection.stats().size == 50);

    auto hits = collection.search(request_for(second, 3));
    CHECK(hits[0].hit.id == 7);
    CHECK(hits[0].hit.score == doctest::Approx(0.0).epsilon(1e-4));
    hits = collection.search(request_for(first, 50));  // the old vector is gone from the graph
    auto seven = std::find_if(hits.begin(), hits.end(), [](const auto& hit) { return hit.hit.id == 7; });
    REQUIRE(seven != hits.end());
    CHECK(seven->hit.score == doctest::Approx(squared_distance(first, second)).epsilon(1e-3));

    CHECK(ids_of(collection.search(request_for(second, 5, "color = \"blue\""))) == std::vector<std::uint64_t>{7});
    CHECK(collection.search(request_for(second, 5, "color = \"red\"")).empty());
    CHECK(collection.search(request_for(second, 5, "size = 3")).empty());
    if (pass == 0) collection.checkpoint();
  }

  SUBCASE("replacing with no attributes leaves none") {
    auto collection = Collection::open(path, manual_checkpoints());
    std::vector<UpsertItem> bare{{7, first, {}}};
    collection.upsert(bare);
    CHECK(collection.get(7)->attributes.empty());
    auto request = request_for(first, 1);
    request.with_attributes = true;
    auto hits = collection.search(request);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].hit.id == 7);
    CHECK_FALSE(hits[0].attributes);
    CHECK(collection.search(request_for(first, 5, "color = \"blue\"")).empty());
  }
}

TEST_CASE("collection: reopening gives the same answers, from replay and from a checkpoint") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  std::map<std::uint64_t, std::vector<float>> live;
  auto queries = clustered_vectors(12, dim, 17);
  auto answers = [&](const Collection& collection) {
    std::vector<std::vector<CollectionHit>> all;
    for (std::size_t q = 0; q < queries.rows; ++q) {
      auto row = queries.row(q);
      auto request = request_for({row.begin(), row.end()}, 10);
      request.ef = 400;  // at least the collection's size: the walk is exhaustive
      all.push_back(collection.search(request));
    }
    return all;
  };
  auto check_exact = [&](const std::vector<std::vector<CollectionHit>>& all) {
    for (std::size_t q = 0; q < queries.rows; ++q) CHECK(ids_of(all[q]) == exact_top(live, queries.row(q), 10));
  };
  std::vector<std::vector<CollectionHit>> before;
  CollectionStats stats_before;
  {
    auto collection = Collection::create(path, "c", test_spec(), manual_checkpoints());
    for (std::uint64_t batch = 0; batch < 4; ++batch) {
      auto ids = id_range(batch * 100, 100);
      collection.upsert(items_for(ids));
      for (auto id : ids) live[id] = vector_for(id);
    }
    std::vector<std::uint64_t> gone{3, 30, 300, 333};
    collection.remove(gone);
    for (auto id : gone) live.erase(id);
    before = answers(collection);
    check_exact(before);
    stats_before = collection.stats();
  }
  {
    auto collection = Collection::open(path, manual_checkpoints());  // index rebuilt by replay
    auto stats = collection.stats();
    CHECK(stats.size == stats_before.size);
    CHECK(stats.last_sequence == stats_before.last_sequence);
    CHECK(stats.log_entries == stats_before.log_entries);
    CHECK(collection.name() == "c");
    auto after = answers(collection);
    check_exact(after);
    collection.checkpoint();
    CHECK(collection.stats().log_entries == 0);
    CHECK(collection.stats().checkpoint_sequence == stats_before.last_sequence);
  }
  {
    auto collection = Collection::open(path, manual_checkpoints());  // the checkpoint, nothing to replay
    CHECK(collection.stats().size == stats_before.size);
    CHECK(collection.stats().log_entries == 0);
    check_exact(answers(collection));
    for (auto id : {3, 30, 300, 333}) CHECK_FALSE(collection.contains(id));
  }
}

TEST_CASE("collection: a checkpoint compacts once tombstones reach the threshold; compact() does it now") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  auto options = manual_checkpoints();
  options.compact_deleted_fraction = 0.25;
  std::map<std::uint64_t, std::vector<float>> live;
  auto queries = clustered_vectors(8, dim, 23);
  auto check_exact = [&](const Collection& collection) {
    for (std::size_t q = 0; q < queries.rows; ++q) {
      auto row = queries.row(q);
      auto request = request_for({row.begin(), row.end()}, 10);
      request.ef = 400;  // at least the collection's size: the walk is exhaustive
      CHECK(ids_of(collection.search(request)) == exact_top(live, row, 10));
    }
  };
  auto remove = [&](Collection& collection, std::uint64_t first, std::uint64_t count) {
    auto ids = id_range(first, count);
    CHECK(collection.remove(ids) == count);
    for (auto id : ids) live.erase(id);
  };
  {
    auto collection = Collection::create(path, "c", test_spec(), options);
    auto ids = id_range(0, 400);
    collection.upsert(items_for(ids));
    for (auto id : ids) live[id] = vector_for(id);
    remove(collection, 0, 50);  // 12.5 %: below the threshold
    collection.checkpoint();
    CHECK(collection.stats().deleted == 50);
    const auto memory_before = collection.stats().memory_bytes;
    remove(collection, 50, 60);  // 110 of 400: 27.5 %
    collection.checkpoint();
    auto stats = collection.stats();
    CHECK(stats.deleted == 0);
    CHECK(stats.size == 290);
    CHECK(stats.memory_bytes < memory_before);
    CHECK(stats.log_entries == 0);
    check_exact(collection);
  }
  {
    auto collection = Collection::open(path, options);  // the compacted checkpoint
    CHECK(collection.stats().deleted == 0);
    check_exact(collection);
    remove(collection, 200, 10);
    CHECK(collection.compact() == 10);
    CHECK(collection.stats().deleted == 0);
    CHECK(collection.stats().size == 280);
    CHECK(collection.stats().log_entries == 0);
    check_exact(collection);
  }
  auto collection = Collection::open(path, options);
  CHECK(collection.stats().size == 280);
  check_exact(collection);
}

TEST_CASE("collection: checkpoints and replay mix") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  {
    auto collection = Collection::create(path, "c", test_spec(), manual_checkpoints());
    collection.upsert(items_for(id_range(0, 100)));
    collection.checkpoint();
    CHECK(std::filesystem::exists(path / "index"));
    auto stats = collection.stats();
    CHECK(stats.checkpoint_sequence == 1);
    CHECK(stats.log_entries == 0);
    // After the checkpoint: new ids, replacements and removals of checkpointed ids.
    collection.upsert(items_for(id_range(100, 50)));
    collection.upsert(items_for(id_range(0, 10), 1));
    std::vector<std::uint64_t> gone{20, 21, 120};
    collection.remove(gone);
    stats = collection.stats();
    CHECK(stats.last_sequence == 4);
    CHECK(stats.log_entries == 63);
  }
  auto check_state = [&](const Collection& collection) {
    CHECK(collection.stats().size == 147);
    for (std::uint64_t id : {0, 5, 9}) {
      CHECK(collection.get(id)->vector == vector_for(id, 1));
      CHECK(collection.get(id)->attributes == stored_attributes(id, 1));
      CHECK(ids_labelled(collection, id, 1) == std::vector<std::uint64_t>{id});
      CHECK(ids_labelled(collection, id, 0).empty());
      CHECK(collection.search(request_for(vector_for(id, 1), 1))[0].hit.id == id);
    }
    for (std::uint64_t id : {20, 21, 120}) {
      CHECK_FALSE(collection.contains(id));
      CHECK(ids_labelled(collection, id, 0).empty());
      for (const auto& hit : collection.search(request_for(vector_for(id), 20))) CHECK(hit.hit.id != id);
    }
    CHECK(collection.get(149)->vector == vector_for(149));
  };

  SUBCASE("replay on top of the checkpoint") {
    auto collection = Collection::open(path, manual_checkpoints());
    CHECK(collection.stats().checkpoint_sequence == 1);
    CHECK(collection.stats().log_entries == 63);
    check_state(collection);
  }

  SUBCASE("a checkpoint saved but not recorded: replay re-applies writes the index holds") {
    // The crash between Index::save and recording the sequence, rebuilt from files:
    // collection.sqlite from before a checkpoint next to the index/ it then saved.
    auto saved = temp.path() / "saved";
    std::filesystem::create_directories(saved);
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.path().filename().string().starts_with("collection.sqlite")) {
        std::filesystem::copy_file(entry.path(), saved / entry.path().filename());
      }
    }
    Collection::open(path, manual_checkpoints()).checkpoint();
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.path().filename().string().starts_with("collection.sqlite")) std::filesystem::remove(entry.path());
    }
    for (const auto& entry : std::filesystem::directory_iterator(saved)) {
      std::filesystem::copy_file(entry.path(), path / entry.path().filename());
    }
    auto collection = Collection::open(path, manual_checkpoints());
    CHECK(collection.stats().checkpoint_sequence == 1);
    CHECK(collection.stats().log_entries == 63);
    // 20 and 21 were tombstoned in the checkpoint already (replay skips them); 120 was
    // never in it, and replay does not add an id whose last logged write removed it.
    CHECK(collection.stats().deleted == 2);
    check_state(collection);
  }

  SUBCASE("automatic checkpoints every checkpoint_every writes") {
    CollectionOptions options;
    options.checkpoint_every = 50;
    {
      auto collection = Collection::open(path, options);  // 63 logged: checkpointed after replay
      CHECK(collection.stats().log_entries == 0);
      CHECK(collection.stats().checkpoint_sequence == 4);
      check_state(collection);
      collection.upsert(items_for(id_range(1000, 30)));
      CHECK(collection.stats().log_entries == 30);
      collection.upsert(items_for(id_range(2000, 30)));
      CHECK(collection.stats().log_entries == 0);
      CHECK(collection.stats().checkpoint_sequence == 6);
      auto moved = std::move(collection);  // the collection (and its directory lock) moves
      CHECK(moved.stats().size == 207);
      CHECK_THROWS_AS(Collection::open(path), IoError);
    }
    auto reopened = Collection::open(path, manual_checkpoints());
    CHECK(reopened.stats().log_entries == 0);
    CHECK(reopened.stats().size == 207);
    CHECK(reopened.get(2029)->vector == vector_for(2029));
  }
}

TEST_CASE("collection: acknowledged writes survive kill -9 at a random moment") {
  // A child process writes batches (upserts, replacements of earlier ids, removals) and
  // reports each one the collection acknowledged; the parent kills it at a random point,
  // possibly mid-commit or mid-checkpoint, reopens, and checks every acknowledged write,
  // in collection.sqlite, in the index and in the attribute store. The write that was
  // in flight must be all there or not at all.
  constexpr std::size_t batch = 16;
  constexpr std::uint64_t max_steps = 400;
  struct Op {
    bool remove = false;
    std::vector<std::uint64_t> ids;
    std::uint64_t version = 0;
  };
  auto op_for = [&](std::uint64_t cycle, std::uint64_t step) {
    std::uint64_t base = (cycle + 1) * 1000000;
    Op op;
    op.version = cycle + 1;
    if (step == 0) {
      op.ids = id_range(0, batch);  // replaces the previous cycles' versions
    } else if (step % 4 == 0) {
      op.remove = true;
      op.ids = {base + (step - 1) * batch, base + (step - 1) * batch + 5};
    } else {
      op.ids = id_range(base + step * batch, batch);
    }
    return op;
  };
  struct Ack {
    std::uint64_t step;
    std::uint64_t sequence;
  };

  TempDirectory temp;
  auto path = temp.path() / "c";
  Collection::create(path, "crash", test_spec(), manual_checkpoints());
  std::map<std::uint64_t, std::optional<std::uint64_t>> model;  // id -> version, nullopt once removed
  std::mt19937_64 rng(2024);
  std::uniform_int_distribution<int> delay_ms(5, 120);
  std::uint64_t last_acknowledged = 0;

  for (std::uint64_t cycle = 0; cycle < 5; ++cycle) {
    CAPTURE(cycle);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      int status = 0;
      try {
        CollectionOptions options;
        options.checkpoint_every = 100;  // so that some kills land in a checkpoint
        options.threads = 1;
        auto collection = Collection::open(path, options);
        for (std::uint64_t step = 0; step < max_steps; ++step) {
          auto op = op_for(cycle, step);
          std::uint64_t sequence = 0;
          if (op.remove) {
            collection.remove(op.ids);
            sequence = collection.stats().last_sequence;
          } else {
            sequence = collection.upsert(items_for(op.ids, op.version));
          }
          Ack ack{step, sequence};
          if (::write(fds[1], &ack, sizeof ack) != sizeof ack) ::_exit(4);
        }
      } catch (...) {
        status = 3;
      }
      ::_exit(status);
    }
    ::close(fds[1]);
    std::vector<Ack> acks;
    auto read_ack = [&] {
      Ack ack{};
      auto* bytes = reinterpret_cast<char*>(&ack);
      std::size_t got = 0;
      while (got < sizeof ack) {
        auto n = ::read(fds[0], bytes + got, sizeof ack - got);
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
      }
      acks.push_back(ack);
      return true;
    };
    bool first = read_ack();  // the child is past open() and has written once
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    while (read_ack()) {
    }
    ::close(fds[0]);
    REQUIRE(first);
    REQUIRE((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));

    for (std::size_t i = 0; i < acks.size(); ++i) {
      REQUIRE(acks[i].step == i);
      CHECK(acks[i].sequence > last_acknowledged);
      last_acknowledged = acks[i].sequence;
      auto op = op_for(cycle, i);
      for (auto id : op.ids) model[id] = op.remove ? std::nullopt : std::optional(op.version);
    }
    MESSAGE("cycle " << cycle << ": " << acks.size() << " acknowledged writes before the kill");

    auto collection = Collection::open(path, manual_checkpoints());
    CHECK(collection.stats().last_sequence >= last_acknowledged);
    // The write in flight at the kill (if any): all of its ids in the new state, or none.
    std::optional<Op> pending;
    if (acks.size() < max_steps) pending = op_for(cycle, acks.size());
    if (pending) {
      std::size_t applied = 0;
      for (auto id : pending->ids) {
        auto record = collection.get(id);
        bool is_new = pending->remove ? !record : (record && record->vector == vector_for(id, pending->version));
        applied += is_new ? 1 : 0;
      }
      CHECK((applied == 0 || applied == pending->ids.size()));
      if (applied != 0) {
        for (auto id : pending->ids) model[id] = pending->remove ? std::nullopt : std::optional(pending->version);
      }
    }

    std::size_t present = 0;
    std::size_t checked = 0;
    for (const auto& entry : model) {
      // Named copies, not structured bindings: doctest's CAPTURE is a lambda, and clang 14
      // cannot capture a binding.
      const auto id = entry.first;
      const auto& version = entry.second;
      CAPTURE(id);
      auto record = collection.get(id);
      REQUIRE(record.has_value() == version.has_value());
      if (!version) continue;
      ++present;
      CHECK(record->vector == vector_for(id, *version));
      CHECK(record->attributes == stored_attributes(id, *version));
      if (checked++ % 5 == 0) {  // the index and the attribute store agree with it
        auto hits = collection.search(request_for(record->vector, 1));
        REQUIRE(hits.size() == 1);
        CHECK(hits[0].hit.id == id);
        CHECK(ids_labelled(collection, id, *version) == std::vector<std::uint64_t>{id});
      }
    }
    CHECK(collection.stats().size == present);
  }
}

TEST_CASE("collection: searches run while another thread writes") {
  TempDirectory temp;
  auto collection = Collection::create(temp.path() / "c", "c", test_spec(), manual_checkpoints());
  // Ids with gaps, so that a garbage id cannot pass for a real one by chance.
  auto id_at = [](std::uint64_t i) { return 1000 + 7 * i; };
  std::set<std::uint64_t> ever;
  std::vector<std::uint64_t> initial;
  for (std::uint64_t i = 0; i < 12; ++i) initial.push_back(id_at(i));
  collection.upsert(items_for(initial));
  constexpr std::uint64_t batches = 24;
  constexpr std::uint64_t per_batch = 10;
  for (std::uint64_t i = 0; i < 12 + batches * per_batch; ++i) ever.insert(id_at(i));

  std::atomic<bool> done = false;
  std::atomic<std::size_t> searches = 0, bad_ids = 0, unordered = 0, wrong_group = 0, errors = 0;
  std::string first_error;
  std::mutex error_mutex;
  auto reader = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // At least one search even if the writer is done before this thread starts.
    for (std::size_t round = 0; round == 0 || !done.load(); ++round) {
      std::vector<float> query(dim);
      for (float& v : query) v = normal(rng);
      auto request = request_for(query, 16, round % 2 == 0 ? "" : "group = 1");
      request.with_attributes = true;
      try {
        auto hits = collection.search(request);
        ++searches;
        for (std::size_t i = 0; i < hits.size(); ++i) {
          if (!ever.contains(hits[i].hit.id)) ++bad_ids;
          if (i > 0 && hits[i].hit.score < hits[i - 1].hit.score) ++unordered;
          if (!request.filter.empty() && hits[i].attributes &&
              std::get<std::int64_t>(hits[i].attributes->at("group")) != 1) {
            ++wrong_group;
          }
        }
      } catch (const std::exception& error) {
        std::lock_guard lock(error_mutex);
        if (errors++ == 0) first_error = error.what();
      }
    }
  };
  std::thread reader_a(reader, 1), reader_b(reader, 2);
  std::thread writer([&] {
    for (std::uint64_t b = 0; b < batches; ++b) {
      std::vector<std::uint64_t> ids;
      for (std::uint64_t i = 0; i < per_batch; ++i) ids.push_back(id_at(12 + b * per_batch + i));
      auto items = items_for(ids, b);
      auto replaced = items_for({initial[b % initial.size()]}, b + 1);  // moves within the graph
      items.push_back(replaced.front());
      collection.upsert(items);
      if (b % 3 == 2) {  // removals shrink the index under the readers' k
        std::vector<std::uint64_t> gone{id_at(12 + (b - 1) * per_batch), id_at(12 + (b - 2) * per_batch + 3)};
        collection.remove(gone);
      }
    }
    done = true;
  });
  writer.join();
  reader_a.join();
  reader_b.join();
  INFO(first_error);
  CHECK(errors == 0);
  CHECK(searches > 0);
  CHECK(bad_ids == 0);
  CHECK(unordered == 0);
  CHECK(wrong_group == 0);
  CHECK(collection.stats().size == 12 + batches * per_batch - 2 * (batches / 3));
}

TEST_CASE("collection: a relevance filter applies to every search and survives a restart") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  auto training = synthetic_relevance(200, 20, dim, 5, Metric::L2);
  auto filter = RelevanceFilter::train(training.set(), quick_relevance_options());
  auto query = vector_for(42);
  std::vector<CollectionHit> before;
  {
    auto collection = Collection::create(path, "c", test_spec(), manual_checkpoints());
    collection.upsert(items_for(id_range(0, 300)));
    CHECK_FALSE(collection.stats().has_relevance_filter);

    auto wrong_dim = RelevanceFilter::train(synthetic_relevance(200, 20, dim + 1, 5, Metric::L2).set(),
                                            quick_relevance_options());
    CHECK_THROWS_AS(collection.set_relevance_filter(wrong_dim), InvalidArgument);
    CHECK_FALSE(collection.stats().has_relevance_filter);

    collection.set_relevance_filter(filter);
    auto stats = collection.stats();
    CHECK(stats.has_relevance_filter);
    CHECK(stats.checkpoint_sequence == stats.last_sequence);  // saved with the index at once

    before = collection.search(request_for(query, 10));
    REQUIRE(before.size() == 10);
    for (std::size_t i = 0; i < before.size(); ++i) {
      CHECK(before[i].hit.relevance >= 0.0f);
      CHECK(before[i].hit.relevance <= 1.0f);
      if (i > 0) CHECK(before[i].hit.relevance <= before[i - 1].hit.relevance);
    }
    auto request = request_for(query, 10);
    request.min_relevance = before[5].hit.relevance;
    auto cut = collection.search(request);
    std::vector<std::uint64_t> expected;
    for (const auto& hit : before) {
      if (hit.hit.relevance >= request.min_relevance) expected.push_back(hit.hit.id);
    }
    CHECK(ids_of(cut) == expected);

    // 60 ids: the exact path of filtered search, which scores relevance here.
    auto filtered = collection.search(request_for(query, 10, "group = 2"));
    REQUIRE(filtered.size() == 10);
    for (const auto& hit : filtered) {
      CHECK(hit.hit.id % 5 == 2);
      CHECK(hit.hit.relevance >= 0.0f);
      CHECK(hit.hit.relevance <= 1.0f);
    }
  }
  {
    auto collection = Collection::open(path, manual_checkpoints());
    CHECK(collection.stats().has_relevance_filter);
    auto after = collection.search(request_for(query, 10));
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      CHECK(after[i].hit.id == before[i].hit.id);
      CHECK(after[i].hit.relevance == before[i].hit.relevance);
    }

    // Detached: hits carry no relevance, thresholds are refused, and a second detach is a no-op.
    CHECK(collection.clear_relevance_filter());
    CHECK_FALSE(collection.stats().has_relevance_filter);
    auto plain = collection.search(request_for(query, 10));
    CHECK(ids_of(plain) == ids_of(before));
    for (const auto& hit : plain) CHECK(hit.hit.relevance < 0.0f);
    auto request = request_for(query, 10);
    request.min_relevance = 0.5f;
    CHECK_THROWS_AS(collection.search(request), InvalidArgument);
    CHECK_FALSE(collection.clear_relevance_filter());
  }
  CHECK_FALSE(Collection::open(path, manual_checkpoints()).stats().has_relevance_filter);  // durably
}

TEST_CASE("collection: bad input is rejected and writes nothing") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  for (double fraction : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    auto options = manual_checkpoints();
    options.compact_deleted_fraction = fraction;
    CHECK_THROWS_WITH_AS(Collection::create(path, "c", test_spec(), options),
                         doctest::Contains("compact_deleted_fraction"), InvalidArgument);
    CHECK_FALSE(std::filesystem::exists(path));
  }
  auto collection = Collection::create(path, "c", test_spec(), manual_checkpoints());
  collection.upsert(items_for(id_range(0, 20)));
  auto stats = collection.stats();

  auto rejected = [&](std::vector<UpsertItem> items) {
    CHECK_THROWS_AS(collection.upsert(items), InvalidArgument);
    CHECK(collection.stats().last_sequence == stats.last_sequence);
    CHECK(collection.stats().size == stats.size);
    CHECK(collection.stats().log_entries == stats.log_entries);
  };
  // Each batch: two good new items first, then the bad one.
  auto batch_with = [&](UpsertItem bad) {
    auto items = items_for({500, 501});
    items[0].attributes["fresh"] = std::int64_t(1);  // a new attribute name
    items.push_back(std::move(bad));
    return items;
  };
  auto good = [](std::uint64_t id) { return UpsertItem{id, vector_for(id), {}}; };

  SUBCASE("vectors") {
    auto item = good(502);
    item.vector.pop_back();
    CHECK_THROWS_WITH_AS(collection.upsert(batch_with(item)), doctest::Contains("item 2 (id 502)"), InvalidArgument);
    rejected(batch_with(item));
    item = good(502);
    item.vector[3] = std::numeric_limits<float>::quiet_NaN();
    rejected(batch_with(item));
    item.vector[3] = std::numeric_limits<float>::infinity();
    rejected(batch_with(item));
    rejected(batch_with(good(500)));  // the same id twice in one batch
  }
  SUBCASE("attributes") {
    auto item = good(502);
    item.attributes["1st"] = std::string("x");
    rejected(batch_with(item));
    item.attributes = {{"AND", std::string("x")}};
    rejected(batch_with(item));
    item.attributes = {{"group", std::string("one")}};  // group holds int64 values
    rejected(batch_with(item));
    item.attributes = {{"fresh", 1.5}};  // its type set earlier in the same batch
    rejected(batch_with(item));
    item.attributes = {{"weight", std::numeric_limits<double>::infinity()}};
    rejected(batch_with(item));
    item.attributes = {{"label", std::string("\xff\xfe")}};  // not UTF-8
    rejected(batch_with(item));
  }
  // Nothing of the rejected batches reached the store or the index.
  CHECK_FALSE(collection.contains(500));
  CHECK_FALSE(collection.get(500));
  CHECK_THROWS_AS(collection.search(request_for(vector_for(1), 5, "fresh = 1")), InvalidArgument);
  CHECK(collection.search(request_for(vector_for(500), 1))[0].hit.id != 500);

  SUBCASE("searches") {
    auto request = request_for(vector_for(1), 5);
    request.vector.push_back(1.0f);
    CHECK_THROWS_AS(collection.search(request), InvalidArgument);
    request = request_for(vector_for(1), 5);
    request.vector[0] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(collection.search(request), InvalidArgument);
    request = request_for(vector_for(1), 0);
    CHECK_THROWS_AS(collection.search(request), InvalidArgument);
    request = request_for(vector_for(1), 10);
    request.ef = 5;  // a window narrower than k still returns k hits
    CHECK(collection.search(request).size() == 10);
    request.ef = 0;  // max(64, k)
    CHECK(collection.search(request).size() == 10);
    for (float bad : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
      request.min_relevance = bad;
      CHECK_THROWS_AS(collection.search(request), InvalidArgument);
    }
    request.min_relevance = 0.5f;  // no relevance filter attached
    CHECK_THROWS_AS(collection.search(request), InvalidArgument);
    CHECK_THROWS_AS(collection.search(request_for(vector_for(1), 5, "group = = 1")), InvalidArgument);
    CHECK_THROWS_AS(collection.search(request_for(vector_for(1), 5, "unknown_name = 1")), InvalidArgument);
  }

  SUBCASE("get of an unknown id") {
    CHECK_FALSE(collection.get(123456));
    CHECK_FALSE(collection.contains(123456));
  }

  SUBCASE("a collection is opened once") {
    CHECK_THROWS_AS(Collection::open(path), IoError);
  }

  SUBCASE("create refuses an existing directory and specs that cannot start empty") {
    std::filesystem::create_directories(temp.path() / "existing");
    std::ofstream(temp.path() / "existing" / "keep.txt") << "mine";
    CHECK_THROWS_AS(Collection::create(temp.path() / "existing", "c", test_spec()), InvalidArgument);
    CHECK(std::filesystem::exists(temp.path() / "existing" / "keep.txt"));
    CHECK_THROWS_AS(Collection::create(path, "again", test_spec()), InvalidArgument);
    CHECK_THROWS_AS(Collection::create(temp.path() / "noname", "", test_spec()), InvalidArgument);
    for (const char* spec : {"leanvec8,lvq8", "leanvec-ood8", "attn16"}) {
      CAPTURE(spec);
      CHECK_THROWS_AS(Collection::create(temp.path() / "learned", "c", IndexSpec::parse(spec, Metric::InnerProduct, dim)),
                      InvalidArgument);
      CHECK_FALSE(std::filesystem::exists(temp.path() / "learned"));
    }
  }

  SUBCASE("a zero vector under the cosine metric") {
    auto cosine = Collection::create(temp.path() / "cos", "c", test_spec(Metric::Cosine), manual_checkpoints());
    std::vector<UpsertItem> zero{{1, std::vector<float>(dim, 0.0f), {}}};
    CHECK_THROWS_AS(cosine.upsert(zero), InvalidArgument);
    CHECK(cosine.stats().last_sequence == 0);
  }
}

TEST_CASE("collection: open rejects what is not a collection") {
  TempDirectory temp;
  CHECK_THROWS_AS(Collection::open(temp.path() / "missing"), NotFound);
  std::filesystem::create_directories(temp.path() / "empty");
  CHECK_THROWS_AS(Collection::open(temp.path() / "empty"), NotFound);

  auto path = temp.path() / "c";
  Collection::create(path, "c", test_spec(), manual_checkpoints()).upsert(items_for(id_range(0, 10)));
  auto remove_wal = [&] {
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(path / ("collection.sqlite" + std::string(suffix)));
  };

  SUBCASE("garbage in collection.sqlite") {
    remove_wal();
    std::ofstream(path / "collection.sqlite", std::ios::binary | std::ios::trunc)
        << std::string(8192, 'x') << "not a database";
    CHECK_THROWS_WITH_AS(Collection::open(path), doctest::Contains("collection.sqlite"), CorruptFile);
  }
  SUBCASE("another SQLite database in its place") {
    remove_wal();
    std::filesystem::copy_file(path / "attributes.sqlite", path / "collection.sqlite",
                               std::filesystem::copy_options::overwrite_existing);
    CHECK_THROWS_WITH_AS(Collection::open(path), doctest::Contains("not a quiver collection"), CorruptFile);
  }
}

TEST_CASE("collection: a lost or damaged index checkpoint is rebuilt from the stored vectors") {
  TempDirectory temp;
  auto path = temp.path() / "c";
  std::map<std::uint64_t, std::vector<float>> live;
  {
    auto collection = Collection::create(path, "c", test_spec(), manual_checkpoints());
    collection.upsert(items_for(id_range(0, 300)));
    collection.checkpoint();
    collection.upsert(items_for(id_range(300, 50)));  // logged after the checkpoint
    auto gone = id_range(100, 20);
    collection.remove(gone);
    for (std::uint64_t id = 0; id < 350; ++id) live[id] = vector_for(id);
    for (auto id : gone) live.erase(id);
  }
  auto check_contents = [&](const Collection& collection) {
    CHECK(collection.stats().size == live.size());
    CHECK(collection.stats().log_entries == 0);  // checkpointed again
    auto queries = clustered_vectors(6, dim, 29);
    for (std::size_t q = 0; q < queries.rows; ++q) {
      auto row = queries.row(q);
      auto request = request_for({row.begin(), row.end()}, 10);
      request.ef = 400;
      CHECK(ids_of(collection.search(request)) == exact_top(live, row, 10));
    }
    // The attribute store agrees: filters see the stored attributes, removed ids none.
    auto filtered = collection.search(request_for(vector_for(7), 400, "group = 2"));
    CHECK(filtered.size() == 66);  // ids = 2 mod 5 in [0, 350) less the four removed
    for (const auto& hit : filtered) CHECK(hit.hit.id % 5 == 2);
  };
  SUBCASE("index/ lost") {
    std::filesystem::remove_all(path / "index");
    {
      auto collection = Collection::open(path, manual_checkpoints());
      CHECK_MESSAGE(collection.stats().index_recovery.find("missing") != std::string::npos,
                    collection.stats().index_recovery);
      check_contents(collection);
    }
    auto reopened = Collection::open(path, manual_checkpoints());
    CHECK(reopened.stats().index_recovery.empty());
    check_contents(reopened);
  }
  SUBCASE("a damaged file in index/") {
    std::filesystem::path largest;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path / "index")) {
      if (entry.is_regular_file() && (largest.empty() || entry.file_size() > std::filesystem::file_size(largest))) {
        largest = entry.path();
      }
    }
    REQUIRE_FALSE(largest.empty());
    {
      std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
      const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(largest) / 2);
      file.seekg(middle);
      char byte = 0;
      file.read(&byte, 1);
      byte = static_cast<char>(byte ^ 0x5a);
      file.seekp(middle);
      file.write(&byte, 1);
    }
    auto collection = Collection::open(path, manual_checkpoints());
    CHECK_FALSE(collection.stats().index_recovery.empty());
    MESSAGE(collection.stats().index_recovery);
    check_contents(collection);
  }
}

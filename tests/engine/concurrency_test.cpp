// Many threads adding, removing, compacting and searching one index at once, plus
// filtered searches racing attribute writes. Every operation is stamped with a global
// logical clock before it starts and after it returns; afterwards each search is checked
// against what was possible during its own interval: it returns only ids that were live
// at some point of it, and it finds a vector that was surely live throughout when the
// query is that vector itself. QUIVER_CONCURRENCY_OPS sets the number of operations per
// index (default 20000; the TSan job runs 100000 and more); a watchdog fails the run if
// the threads do not finish in QUIVER_CONCURRENCY_TIMEOUT_S seconds (a deadlock).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "quiver/attribute_store.h"
#include "quiver/error.h"
#include "quiver/filtered_search.h"
#include "quiver/index.h"
#include "support/ood_synthetic.h"
#include "support/synthetic.h"

using namespace quiver;

namespace {

std::size_t env_or(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? static_cast<std::size_t>(std::strtoull(text, nullptr, 10)) : fallback;
}

std::size_t operation_count() { return std::max<std::size_t>(env_or("QUIVER_CONCURRENCY_OPS", 20000), 100); }

// Aborts the test binary when the guarded threads have not finished in time: a deadlock
// must fail the suite, not hang it, and stuck threads cannot be unwound by an assertion.
class Watchdog {
 public:
  explicit Watchdog(const char* what)
      : what_(what), limit_(std::chrono::seconds(env_or("QUIVER_CONCURRENCY_TIMEOUT_S", 900))) {
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      if (!finished_changed_.wait_for(lock, limit_, [this] { return finished_; })) {
        std::fprintf(stderr, "concurrency_test: '%s' did not finish within %lld s: deadlock?\n", what_,
                     static_cast<long long>(limit_.count()));
        std::abort();
      }
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    finished_changed_.notify_all();
    thread_.join();
  }

 private:
  const char* what_;
  std::chrono::seconds limit_;
  std::mutex mutex_;
  std::condition_variable finished_changed_;
  bool finished_ = false;
  std::thread thread_;
};

// One change of a set of ids, between two ticks of the logical clock.
struct Change {
  std::vector<std::uint64_t> ids;
  bool enters = true;  // added to the index / given the attribute; false: removed / taken away
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

struct SearchRecord {
  std::uint64_t query = 0;  // the id whose vector was the query
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::vector<std::uint64_t> hits;
  std::string error;  // what the search threw, if anything
  std::string path;   // how it searched, for the failure message
  // A filtered graph walk is approximate: missing the query's own vector is a recall
  // loss, counted separately, not a consistency violation.
  bool approximate = false;
};

// For each id, the stretches of logical time during which it may have been in a set (live
// in the index, or holding an attribute value): from the start of the change that put it
// in to the end of the change that took it out. Each id has one writer, so its changes
// are recorded in order.
class Membership {
 public:
  void always(std::uint64_t id) { stretches_[id].push_back({0, 0, max, max}); }

  void record(const Change& change) {
    for (auto id : change.ids) {
      auto& list = stretches_[id];
      if (change.enters) {
        if (list.empty() || list.back().out_start != max) list.push_back({change.start, change.end, max, max});
      } else if (!list.empty() && list.back().out_start == max) {
        list.back().out_start = change.start;
        list.back().out_end = change.end;
      }
    }
  }

  // In the set at some moment of [start, end].
  bool possibly_in(std::uint64_t id, std::uint64_t start, std::uint64_t end) const {
    auto it = stretches_.find(id);
    if (it == stretches_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const Stretch& s) { return s.in_start < end && s.out_end > start; });
  }

  // In the set for the whole of [start, end]: put in before it began, not taken out before it ended.
  bool surely_in(std::uint64_t id, std::uint64_t start, std::uint64_t end) const {
    auto it = stretches_.find(id);
    if (it == stretches_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const Stretch& s) { return s.in_end < start && s.out_start > end; });
  }

 private:
  static constexpr std::uint64_t max = ~std::uint64_t{0};
  struct Stretch {
    std::uint64_t in_start, in_end, out_start, out_end;
  };
  std::map<std::uint64_t, std::vector<Stretch>> stretches_;
};

struct Verdict {
  std::size_t searches = 0;
  std::size_t exact_checks = 0;  // searches whose query vector was surely present throughout
  std::size_t violations = 0;
  std::string first;
  std::size_t approximate_checks = 0;  // exact_checks made on approximate searches
  std::size_t approximate_misses = 0;
};

// Checks each search against the memberships an id had to be in (all of them) to be returned.
Verdict judge(const std::vector<std::vector<SearchRecord>>& searches, const std::vector<const Membership*>& sets) {
  Verdict verdict;
  auto fail = [&](std::string message) {
    if (verdict.violations++ == 0) verdict.first = std::move(message);
  };
  for (const auto& per_thread : searches) {
    for (const auto& search : per_thread) {
      ++verdict.searches;
      if (!search.error.empty()) fail("search for the vector of id " + std::to_string(search.query) + " threw: " + search.error);
      for (auto id : search.hits) {
        for (const auto* set : sets) {
          if (!set->possibly_in(id, search.start, search.end)) {
            fail("search [" + std::to_string(search.start) + ", " + std::to_string(search.end) + "] returned id " +
                 std::to_string(id) + ", which was not present at any moment of it");
          }
        }
      }
      bool surely = std::all_of(sets.begin(), sets.end(),
                                [&](const Membership* set) { return set->surely_in(search.query, search.start, search.end); });
      if (surely) {
        ++verdict.exact_checks;
        verdict.approximate_checks += search.approximate ? 1 : 0;
        bool found = std::find(search.hits.begin(), search.hits.end(), search.query) != search.hits.end();
        if (!found && search.approximate) {
          ++verdict.approximate_misses;
        } else if (!found) {
          fail("search [" + std::to_string(search.start) + ", " + std::to_string(search.end) + "] " + search.path +
               " for the vector of id " + std::to_string(search.query) + ", present throughout, did not return it");
        }
      }
    }
  }
  return verdict;
}

// Writers insert on their own thread: the races under test are between API calls.
BuildOptions one_thread() {
  BuildOptions options;
  options.threads = 1;
  return options;
}

constexpr std::size_t dim = 16;
constexpr std::size_t churn_ids = 400;  // ids [0, churn_ids) come and go
constexpr std::size_t anchors = 200;    // ids [churn_ids, churn_ids + anchors) stay: k always fits
constexpr std::size_t writers = 2;      // writer w owns the churn ids with id % writers == w
constexpr std::size_t searchers = 3;

std::vector<std::uint64_t> id_range(std::uint64_t first, std::size_t count) {
  std::vector<std::uint64_t> ids(count);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

Matrix rows_of(const Matrix& data, std::span<const std::uint64_t> ids) {
  Matrix out(ids.size(), data.cols);
  for (std::size_t i = 0; i < ids.size(); ++i) std::copy_n(data.row(ids[i]).data(), data.cols, out.row(i).data());
  return out;
}

void run_index_churn(const char* spec_text) {
  const std::size_t operations = operation_count();
  // Uniform vectors: every query vector's own id is its unique nearest neighbour.
  const auto data = testing::uniform_vectors(churn_ids + anchors, dim, 2026);
  auto anchor_ids = id_range(churn_ids, anchors);
  auto index = Index::build(IndexSpec::parse(spec_text, Metric::L2, dim), rows_of(data, anchor_ids), anchor_ids);

  std::atomic<std::uint64_t> clock{1};
  std::vector<std::vector<Change>> changes(writers);
  std::vector<std::vector<SearchRecord>> searches(searchers);
  const std::size_t writer_ops = operations * 2 / 5 / writers;
  const std::size_t search_ops = operations * 3 / 5 / searchers;
  const SearchParams params{.k = 4, .ef = 256};
  {
    Watchdog watchdog(spec_text);
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937_64 random(w + 1);
        std::vector<bool> live(churn_ids, false);
        for (std::size_t op = 0; op < writer_ops; ++op) {
          if (w == 0 && op % 2000 == 1999) {  // compaction racing searches and the other writer
            index.compact(one_thread());
            continue;
          }
          std::uint64_t id = random() % (churn_ids / writers) * writers + w;
          Change change;
          if (live[id] && random() % 5 != 0) {
            change.enters = false;
            change.ids = {id};
            change.start = clock.fetch_add(1);
            index.remove(id);
            change.end = clock.fetch_add(1);
          } else {
            // A batch of up to four of this writer's ids; a live one among them is replaced.
            change.ids = {id};
            for (std::size_t extra = random() % 4; extra > 0; --extra) {
              std::uint64_t other = random() % (churn_ids / writers) * writers + w;
              if (std::find(change.ids.begin(), change.ids.end(), other) == change.ids.end()) change.ids.push_back(other);
            }
            auto vectors = rows_of(data, change.ids);
            change.start = clock.fetch_add(1);
            index.add(change.ids, vectors, one_thread());
            change.end = clock.fetch_add(1);
          }
          for (auto changed : change.ids) live[changed] = change.enters;
          changes[w].push_back(std::move(change));
        }
      });
    }
    for (std::size_t s = 0; s < searchers; ++s) {
      threads.emplace_back([&, s] {
        std::mt19937_64 random(100 + s);
        for (std::size_t op = 0; op < search_ops; ++op) {
          SearchRecord record;
          record.query = random() % (churn_ids + anchors);
          record.start = clock.fetch_add(1);
          try {
            for (const auto& hit : index.search(data.row(record.query), params)) record.hits.push_back(hit.id);
          } catch (const Error& error) {
            record.error = error.what();
          }
          record.end = clock.fetch_add(1);
          searches[s].push_back(std::move(record));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }

  Membership live;
  for (auto id : anchor_ids) live.always(id);
  for (const auto& per_writer : changes) {
    for (const auto& change : per_writer) live.record(change);
  }
  auto verdict = judge(searches, {&live});
  INFO(spec_text << ": " << verdict.searches << " searches, " << verdict.exact_checks
                 << " with the query's own vector present throughout; first violation: " << verdict.first);
  CHECK(verdict.violations == 0);
  CHECK(verdict.searches == search_ops * searchers);
  // The exact-match property was exercised, not vacuously true.
  CHECK(verdict.exact_checks >= verdict.searches / 4);
}

}  // namespace

TEST_CASE("concurrent add, remove, compact and search on an f32 HNSW index") { run_index_churn("hnsw16,efc64"); }

TEST_CASE("concurrent add, remove, compact and search on an LVQ-8 index") { run_index_churn("hnsw16,efc64,lvq8"); }

TEST_CASE("searches run while an attention index links new keys through its sample queries on several threads") {
  // add() walks the graph for each new key's best sample queries, then relinks lists one
  // lock at a time on several threads; searches must see whole lists throughout. The
  // seeded set's few hub keys top most queries and fill their neighbours' lists, which
  // is where the reachability repair used to leave keys unreachable.
  for (const char* spec : {"attn8,efc32", "attn16,efc64"}) {
    CAPTURE(spec);
    const auto set = testing::ood_synthetic(3000, 400, 20, dim, 5);
    auto index = Index::create(IndexSpec::parse(spec, Metric::InnerProduct, dim), set.train_queries);
    BuildOptions parallel;
    parallel.threads = 4;
    std::atomic<bool> done{false};
    std::atomic<std::size_t> searches{0};
    std::atomic<std::size_t> short_answers{0};
    {
      Watchdog watchdog(spec);
      std::thread searcher([&] {
        const SearchParams params{.k = 5, .ef = 32};
        while (!done.load()) {
          if (index.size() < params.k) continue;
          const auto hits = index.search(set.eval_queries.row(searches.load() % set.eval_queries.rows), params);
          short_answers += hits.size() != params.k;
          ++searches;
        }
      });
      for (std::size_t first = 0; first < set.keys.rows; first += 250) {
        auto ids = id_range(first, 250);
        index.add(ids, set.keys.view().slice(first, 250), parallel);
      }
      done = true;
      searcher.join();
    }
    CHECK(index.size() == set.keys.rows);
    CHECK(searches.load() > 0);
    CHECK(short_answers.load() == 0);
    // Every key stays reachable: a search as wide as the index returns all of them.
    const auto all = index.search(set.eval_queries.row(0), {.k = set.keys.rows, .ef = set.keys.rows});
    CHECK(all.size() == set.keys.rows);
  }
}

TEST_CASE("concurrent filtered searches while attributes and vectors change") {
  const std::size_t operations = operation_count();
  const auto data = testing::uniform_vectors(churn_ids + anchors, dim, 2027);
  auto all_ids = id_range(0, churn_ids + anchors);
  // Every id starts in the index; the index writer then removes and re-adds churn ids.
  auto index = Index::build(IndexSpec::parse("hnsw16,efc64", Metric::L2, dim), data, all_ids);
  auto store = AttributeStore::in_memory();
  for (std::uint64_t id = churn_ids; id < churn_ids + anchors; ++id) store.set(id, "category", std::string("a"));

  std::atomic<std::uint64_t> clock{1};
  std::vector<Change> index_changes;
  std::vector<Change> attribute_changes;
  std::vector<std::vector<SearchRecord>> searches(searchers);
  const std::size_t writer_ops = operations * 2 / 5 / 2;
  const std::size_t search_ops = operations * 3 / 5 / searchers;
  {
    Watchdog watchdog("filtered search");
    std::vector<std::thread> threads;
    threads.emplace_back([&] {  // the index writer
      std::mt19937_64 random(11);
      std::vector<bool> live(churn_ids, true);
      for (std::size_t op = 0; op < writer_ops; ++op) {
        if (op % 1000 == 999) {
          index.compact(one_thread());
          continue;
        }
        std::uint64_t id = random() % churn_ids;
        Change change{{id}, !live[id], 0, 0};
        auto vector = rows_of(data, change.ids);
        change.start = clock.fetch_add(1);
        if (change.enters) {
          index.add(change.ids, vector, one_thread());
        } else {
          index.remove(id);
        }
        change.end = clock.fetch_add(1);
        live[id] = change.enters;
        index_changes.push_back(std::move(change));
      }
    });
    threads.emplace_back([&] {  // the attribute writer: category "a" (admitted), "b", or none
      std::mt19937_64 random(12);
      for (std::size_t op = 0; op < writer_ops; ++op) {
        std::uint64_t id = random() % churn_ids;
        auto choice = random() % 3;
        Change change{{id}, choice == 0, 0, 0};
        change.start = clock.fetch_add(1);
        if (choice == 0) {
          store.set(id, "category", std::string("a"));
        } else if (choice == 1) {
          store.set(id, "category", std::string("b"));
        } else {
          store.erase(id);
        }
        change.end = clock.fetch_add(1);
        attribute_changes.push_back(std::move(change));
      }
    });
    for (std::size_t s = 0; s < searchers; ++s) {
      threads.emplace_back([&, s] {
        std::mt19937_64 random(200 + s);
        FilteredSearchOptions exact;  // a few hundred allowed ids: scored exactly
        FilteredSearchOptions graph;  // the filter inside the graph walk
        graph.exact_fraction = 0;
        graph.exact_max_ids = 0;
        for (std::size_t op = 0; op < search_ops; ++op) {
          SearchRecord record;
          record.query = random() % (churn_ids + anchors);
          record.start = clock.fetch_add(1);
          try {
            auto result = filtered_search(index, store, data.row(record.query), "category = \"a\"",
                                          {.k = 4, .ef = 256}, op % 2 == 0 ? exact : graph);
            for (const auto& hit : result.hits) record.hits.push_back(hit.id);
            record.approximate = result.strategy == FilterStrategy::Graph;
            record.path = "(" + to_string(result.strategy) + " path, " + std::to_string(result.allowed) + " allowed, ef " +
                          std::to_string(result.ef) + ")";
          } catch (const Error& error) {
            record.error = error.what();
          }
          record.end = clock.fetch_add(1);
          searches[s].push_back(std::move(record));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }

  Membership live;
  Membership admitted;
  for (std::uint64_t id = 0; id < churn_ids + anchors; ++id) {
    if (id >= churn_ids) {
      live.always(id);
      admitted.always(id);
    } else {
      live.record({{id}, true, 0, 0});
    }
  }
  for (const auto& change : index_changes) live.record(change);
  for (const auto& change : attribute_changes) admitted.record(change);
  auto verdict = judge(searches, {&live, &admitted});
  INFO(verdict.searches << " filtered searches, " << verdict.exact_checks
                        << " with the query's own vector present and admitted throughout ("
                        << verdict.approximate_checks << " of them graph walks, which missed it "
                        << verdict.approximate_misses << " times); first violation: " << verdict.first);
  CHECK(verdict.violations == 0);
  // The exact path never misses (checked above); the graph walk keeps recall at 99%.
  CHECK(verdict.approximate_misses * 100 <= verdict.approximate_checks);
  CHECK(verdict.approximate_checks >= verdict.exact_checks / 4);
  CHECK(verdict.searches == search_ops * searchers);
  CHECK(verdict.exact_checks >= verdict.searches / 10);
}

#include "bench/filter_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "quiver/attribute_store.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/filtered_search.h"
#include "quiver/index.h"

namespace quiver::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

// `bucket` uniform in [0, buckets): "bucket < s * buckets" admits a fraction s of the
// rows, independent of where they lie in space. A category and tags ride along so the
// store holds the mix of types a real catalogue has.
constexpr std::int64_t buckets = 1'000'000;

AttributeStore random_attributes(std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> bucket(0, buckets - 1);
  std::uniform_int_distribution<int> category(0, 9);
  auto store = AttributeStore::in_memory();
  constexpr std::size_t batch = 50'000;
  for (std::size_t first = 0; first < rows; first += batch) {
    std::size_t count = std::min(batch, rows - first);
    std::vector<std::uint64_t> ids(count);
    std::vector<Attributes> attributes(count);
    for (std::size_t i = 0; i < count; ++i) {
      ids[i] = first + i;
      attributes[i]["bucket"] = bucket(rng);
      attributes[i]["category"] = "c" + std::to_string(category(rng));
      attributes[i]["tags"] = std::vector<std::string>{(rng() & 1) ? "sale" : "regular"};
    }
    store.set_many(ids, attributes);
  }
  return store;
}

double recall_of(const std::vector<std::vector<Hit>>& found, const std::vector<std::vector<Hit>>& truth) {
  std::size_t matched = 0, total = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    total += truth[q].size();
    for (const auto& t : truth[q]) {
      matched += std::any_of(found[q].begin(), found[q].end(), [&](const Hit& h) { return h.id == t.id; });
    }
  }
  return total == 0 ? 1.0 : static_cast<double>(matched) / static_cast<double>(total);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

std::vector<FilterPoint> run_filter_bench(const Dataset& data, const IndexSpec& spec, const FilterBenchOptions& options,
                                          std::ostream& log) {
  for (double s : options.selectivities) {
    if (!(s > 0 && s <= 1)) {
      throw InvalidArgument("--filter-selectivities " + std::to_string(s) + " is outside (0, 1]");
    }
  }
  auto start = Clock::now();
  auto store = random_attributes(data.base.rows, options.seed);
  log << "attributes for " << data.base.rows << " vectors in " << seconds_since(start) << " s\n";
  start = Clock::now();
  BuildOptions build;
  build.threads = options.threads;
  build.sample_queries = data.train_queries.view();
  auto index = Index::build(spec, data.base.view(), {}, build);
  log << "built " << spec.to_string() << " in " << seconds_since(start) << " s\n";

  const MatrixView queries = data.queries.view();
  std::vector<FilterPoint> points;
  auto sweep = [&](const std::string& expression, double selectivity, const AllowedIds* allowed, double select_ms) {
    auto truth = exact_search(data.base.view(), queries, options.k, data.metric, options.threads, allowed);
    for (std::size_t ef : options.efs) {
      FilterPoint point;
      point.selectivity = selectivity;
      point.filtered = allowed != nullptr;
      point.expression = expression;
      point.allowed = allowed ? allowed->size() : data.base.rows;
      point.ef = std::max(ef, options.k);
      point.select_ms = select_ms;
      SearchParams params{.k = options.k, .ef = point.ef};
      std::vector<std::vector<Hit>> found(queries.rows);
      std::map<std::string, std::size_t> strategies;
      double best = 0;
      for (std::size_t rep = 0; rep < std::max<std::size_t>(options.reps, 1); ++rep) {
        strategies.clear();
        auto timer = Clock::now();
        for (std::size_t q = 0; q < queries.rows; ++q) {
          if (allowed) {
            // Through the expression, as a caller would: parse, cache lookup, search.
            auto result = filtered_search(index, store, queries.row(q), expression, params);
            ++strategies[to_string(result.strategy)];
            found[q] = std::move(result.hits);
          } else {
            found[q] = index.search(queries.row(q), params);
          }
        }
        double elapsed = seconds_since(timer);
        best = std::max(best, static_cast<double>(queries.rows) / std::max(elapsed, 1e-9));
      }
      point.qps = best;
      point.recall = recall_of(found, truth);
      point.strategy = "unfiltered";
      std::size_t most = 0;
      for (const auto& [name, count] : strategies) {
        if (count > most) point.strategy = name, most = count;
      }
      points.push_back(point);
    }
  };

  sweep("", 1.0, nullptr, 0);
  for (double s : options.selectivities) {
    auto bound = static_cast<std::int64_t>(std::llround(s * static_cast<double>(buckets)));
    std::string expression = "bucket < " + std::to_string(bound);
    auto timer = Clock::now();
    auto allowed = store.select(expression);
    double select_ms = 1000.0 * seconds_since(timer);
    log << expression << ": " << allowed->size() << " ids (" << select_ms << " ms)\n";
    sweep(expression, s, allowed.get(), select_ms);
  }
  return points;
}

void print_filter_table(std::ostream& out, const std::string& dataset, std::size_t k,
                        const std::vector<FilterPoint>& points) {
  out << "\nfiltered search on " << dataset << ", recall@" << k << ", 1 thread\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-12s %-22s %10s %-10s %6s %8s %10s %10s\n", "selectivity", "expression",
                "allowed", "strategy", "ef", "recall", "qps", "select_ms");
  out << line;
  for (const auto& p : points) {
    std::snprintf(line, sizeof line, "%-12g %-22s %10zu %-10s %6zu %8.4f %10.1f %10.2f\n", p.selectivity,
                  p.filtered ? p.expression.c_str() : "(none)", p.allowed, p.strategy.c_str(), p.ef, p.recall, p.qps,
                  p.select_ms);
    out << line;
  }
}

void add_filter_json(const std::filesystem::path& path, const std::string& dataset, std::size_t k,
                     const std::vector<FilterPoint>& points) {
  Json doc = Json::object();
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    doc = Json::parse(in);
  } else {
    doc["dataset"] = dataset;
    doc["k"] = k;
  }
  Json rows = Json::array();
  for (const auto& p : points) {
    rows.push_back({{"filter_selectivity", p.filtered ? Json(p.selectivity) : Json(nullptr)},
                    {"expression", p.expression},
                    {"allowed", p.allowed},
                    {"strategy", p.strategy},
                    {"ef", p.ef},
                    {"threads", 1},
                    {"recall", p.recall},
                    {"qps", p.qps},
                    {"select_ms", p.select_ms}});
  }
  doc["filtered"] = std::move(rows);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) throw IoError("could not write " + path.string());
}

}  // namespace quiver::bench

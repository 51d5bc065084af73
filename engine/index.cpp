#include "quiver/index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <queue>
#include <random>
#include <shared_mutex>
#include <string>
#include <unordered_set>

#include "engine/attention_graph.h"
#include "engine/durable_file.h"
#include "engine/graph_repair.h"
#include "engine/graph_search.h"
#include "engine/hnsw_file_check.h"
#include "engine/io/sizes.h"
#include "engine/manifest.h"
#include "engine/parallel_for.h"
#include "engine/vector_encoder.h"
#include "engine/vector_space.h"
#include "quant/distance.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/relevance_filter.h"
#include "quiver/vector_io.h"

namespace quiver {

using engine::Graph;

namespace {

constexpr const char* quiver_version = "0.1.0";
// Inserts between progress reports and between releases of the writer lock, so that
// searches interleave with a long add().
constexpr std::size_t add_chunk = 2048;

void check_vectors(MatrixView vectors, const IndexSpec& spec, const char* what) {
  if (vectors.cols != spec.dim) {
    throw InvalidArgument(std::string(what) + " have " + std::to_string(vectors.cols) +
                          " dimensions but the index expects " + std::to_string(spec.dim));
  }
  for (std::size_t i = 0; i < vectors.rows; ++i) {
    auto row = vectors.row(i);
    double norm = 0.0;
    for (std::size_t j = 0; j < row.size(); ++j) {
      if (!std::isfinite(row[j])) {
        throw InvalidArgument(std::string(what) + ": row " + std::to_string(i) + ", component " + std::to_string(j) +
                              " is " + (std::isnan(row[j]) ? "NaN" : "infinite") + "; vectors must be finite");
      }
      norm += double(row[j]) * row[j];
    }
    if (spec.metric == Metric::Cosine && norm == 0.0) {
      throw InvalidArgument(std::string(what) + ": row " + std::to_string(i) +
                            " is the zero vector, which has no direction under the cosine metric");
    }
  }
}

std::vector<std::uint64_t> resolve_ids(std::span<const std::uint64_t> ids, std::size_t rows) {
  if (ids.empty()) {
    std::vector<std::uint64_t> sequential(rows);
    for (std::size_t i = 0; i < rows; ++i) sequential[i] = i;
    return sequential;
  }
  if (ids.size() != rows) {
    throw InvalidArgument("got " + std::to_string(ids.size()) + " ids for " + std::to_string(rows) +
                          " vectors; pass one id per vector");
  }
  std::unordered_set<std::uint64_t> seen;
  seen.reserve(ids.size());
  for (auto id : ids) {
    if (!seen.insert(id).second) throw InvalidArgument("id " + std::to_string(id) + " appears twice in one batch");
  }
  return {ids.begin(), ids.end()};
}

constexpr std::size_t saturating_add(std::size_t a, std::size_t b) {
  std::size_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::size_t>::max() : sum;
}

// An unordered_map node holding one id -> slot entry, with its bucket pointer and the
// allocator's header; hnswlib keeps one per stored vector.
constexpr std::size_t id_map_entry_bytes = 48;

// Throws ResourceExhausted when `rows` exceeds the batch limit; `what` names the call.
void check_batch(const ResourceLimits& limits, std::size_t rows, const char* what) {
  if (limits.max_batch != 0 && rows > limits.max_batch) {
    throw ResourceExhausted(std::string(what) + " of " + std::to_string(rows) + " rows exceeds ResourceLimits::max_batch = " +
                            std::to_string(limits.max_batch) + "; split it into smaller batches");
  }
}

// Bytes saveIndex writes for `graph`: header, base layer, upper-layer lists.
std::size_t saved_bytes(const Graph& graph) {
  std::size_t bytes = 96 + graph.cur_element_count * graph.size_data_per_element_;
  for (std::size_t i = 0; i < graph.cur_element_count; ++i) {
    bytes += 4 + static_cast<std::size_t>(graph.element_levels_[i]) * graph.size_links_per_element_;
  }
  return bytes;
}

}  // namespace

struct Index::Impl {
  IndexSpec spec;
  std::uint64_t seed = 100;
  std::shared_ptr<const engine::VectorEncoder> encoder;  // shared with compacted rebuilds
  std::unique_ptr<engine::VectorSpace> space;
  std::unique_ptr<Graph> graph;     // null until the first vector arrives
  // Graph repair bookkeeping (relink_orphans): nodes inserted or rewired since the last
  // full walk, and the element count at the last check.
  std::size_t inserts_since_walk = 0;
  std::size_t elements_at_last_check = 0;
  std::vector<std::byte> secondary;  // re-rank codes by internal id (capacity x secondary_bytes)
  // Attention graphs: the sample queries the graph was learned from, so that compact()
  // learns the new graph the same way. Set at build, create or load, read-only after.
  Matrix sample_queries;
  // Attention graphs: keys linked by insertion (add) since the graph was learned from
  // the sample queries; guarded by `mutex`.
  std::size_t inserted_since_learned = 0;
  // Shared so that a search can finish scoring after releasing the lock while another
  // thread replaces or clears the filter.
  std::shared_ptr<const RelevanceFilter> relevance;
  mutable std::shared_mutex mutex;
  mutable engine::VisitedPool visited;
  ResourceLimits limits;  // guarded by `mutex`
  // One add() at a time, so that its limit check covers the whole batch: a concurrent
  // add cannot slip in between the check and the batch's last chunk. Searches and
  // removes still interleave with its chunks.
  std::mutex add_mutex;

  Impl(std::shared_ptr<const engine::VectorEncoder> trained, std::uint64_t seed_value)
      : spec(trained->spec()),
        seed(seed_value),
        encoder(std::move(trained)),
        space(std::make_unique<engine::VectorSpace>(*encoder)) {}

  std::size_t live() const { return graph ? graph->cur_element_count - graph->num_deleted_ : 0; }
  std::size_t secondary_bytes() const { return encoder->secondary_bytes(); }

  // Memory accounting (ResourceLimits::memory_budget_bytes says what is counted): what
  // one allocated graph slot costs, and what each stored vector adds on top of its slot.
  std::size_t slot_bytes() const {
    std::size_t base_links = 2 * spec.M * sizeof(std::uint32_t) + sizeof(std::uint32_t);
    return base_links + encoder->primary_bytes() + sizeof(std::uint64_t) + sizeof(void*) + sizeof(std::mutex) +
           sizeof(int) + 2 * sizeof(std::uint16_t) + secondary_bytes();
  }
  std::size_t vector_bytes() const {
    // A vector reaches upper layer l with probability M^-l, so it holds 1/(M-1) upper
    // link lists on average.
    std::size_t upper_links = spec.M * sizeof(std::uint32_t) + sizeof(std::uint32_t);
    return (upper_links + spec.M - 2) / (spec.M - 1) + id_map_entry_bytes;
  }
  // The sample queries an attention graph keeps for compaction: a fixed cost, not per vector.
  std::size_t kept_query_bytes() const { return sample_queries.values.size() * sizeof(float); }
  std::size_t estimated_bytes(std::size_t capacity, std::size_t vectors) const {
    return saturating_add(
        saturating_add(io::saturating_mul(capacity, slot_bytes()), io::saturating_mul(vectors, vector_bytes())),
        kept_query_bytes());
  }

  // How many of `ids` would take a new graph slot, and how many would become live
  // (new ids, and tombstoned ones that an add revives in place).
  std::pair<std::size_t, std::size_t> count_new(std::span<const std::uint64_t> ids) const {
    if (!graph) return {ids.size(), ids.size()};
    std::size_t slots = 0;
    std::size_t revived = 0;
    for (auto id : ids) {
      auto it = graph->label_lookup_.find(id);
      if (it == graph->label_lookup_.end()) {
        ++slots;
      } else if (graph->isMarkedDeleted(it->second)) {
        ++revived;
      }
    }
    return {slots, slots + revived};
  }

  // Throws ResourceExhausted unless `new_slots` more graph slots, `new_live` more live
  // vectors, fit the limits. The caller holds the writer lock.
  void check_growth(std::size_t new_slots, std::size_t new_live) const {
    std::size_t live_after = live() + new_live;
    if (limits.max_vectors != 0 && live_after > limits.max_vectors) {
      throw ResourceExhausted("adding " + std::to_string(new_live) + " vectors to the " + std::to_string(live()) +
                              " in the index would exceed ResourceLimits::max_vectors = " +
                              std::to_string(limits.max_vectors));
    }
    if (limits.memory_budget_bytes == 0) return;
    std::size_t elements = (graph ? graph->cur_element_count : 0) + new_slots;
    std::size_t capacity = std::max<std::size_t>(graph ? graph->max_elements_ : 0, elements);
    std::size_t bytes = estimated_bytes(capacity, elements);
    if (bytes > limits.memory_budget_bytes) {
      throw ResourceExhausted("adding " + std::to_string(new_slots) + " vectors would grow the index to " +
                              std::to_string(elements) + " slots, about " + std::to_string(bytes) + " bytes (" +
                              std::to_string(slot_bytes() + vector_bytes()) + " per vector for spec '" +
                              spec.to_string() + "'" +
                              (kept_query_bytes() > 0
                                   ? " and " + std::to_string(kept_query_bytes()) + " for the kept sample queries"
                                   : std::string()) +
                              "), over ResourceLimits::memory_budget_bytes = " +
                              std::to_string(limits.memory_budget_bytes) +
                              "; raise the budget, compact() away tombstones or choose a smaller encoding");
    }
  }

  void ensure_capacity(std::size_t extra) {
    if (!graph) {
      graph = std::make_unique<Graph>(space.get(), std::max<std::size_t>(extra, 1), spec.M, spec.ef_construction, seed);
    } else if (graph->cur_element_count + extra > graph->max_elements_) {
      std::size_t needed = graph->cur_element_count + extra;
      std::size_t grown = std::max(needed, graph->max_elements_ * 3 / 2);
      if (limits.memory_budget_bytes != 0) {  // growth headroom stops at the budget
        std::size_t fixed = saturating_add(io::saturating_mul(needed, vector_bytes()), kept_query_bytes());
        std::size_t affordable = fixed < limits.memory_budget_bytes ? (limits.memory_budget_bytes - fixed) / slot_bytes() : 0;
        grown = std::max(needed, std::min(grown, affordable));
      }
      graph->resizeIndex(grown);
    }
    secondary.resize(graph->max_elements_ * secondary_bytes());
  }

  // Inserts rows [first, first + count) on `threads` threads. The caller holds the writer lock.
  void insert(MatrixView vectors, const std::vector<std::uint64_t>& ids, std::size_t first, std::size_t count,
              std::size_t threads) {
    // An attention graph is one layer whose entry point was chosen for the queries: new
    // rows join that layer. A drawn HNSW level would put a new row above it, as the entry
    // point of every search (hnswlib draws levels as -ln(U) * mult_).
    if (spec.graph == GraphKind::Attention) graph->mult_ = 0.0;
    std::size_t primary_bytes = encoder->primary_bytes();
    std::size_t workers = engine::resolve_threads(threads);
    std::vector<std::vector<std::byte>> scratch(workers, std::vector<std::byte>(primary_bytes + secondary_bytes()));
    auto insert_one = [&](std::size_t i, std::size_t worker) {
      auto* primary = scratch[worker].data();
      auto* second = primary + primary_bytes;
      encoder->encode(vectors.row(first + i), primary, second);
      auto internal = graph->addPoint(primary, ids[first + i], -1);
      std::copy_n(second, secondary_bytes(), secondary.data() + std::size_t{internal} * secondary_bytes());
    };
    // Replacing an existing id goes through hnswlib's updatePoint, which rewires the old
    // node's neighbours while parallel inserts read those lists unlocked (a data race
    // TSan reports, and a way to leave a node unreachable). Replacements therefore run
    // one at a time after the new ids, which insert in parallel as hnswlib intends.
    std::vector<std::size_t> fresh;
    std::vector<std::size_t> replacements;
    fresh.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      (graph->label_lookup_.contains(ids[first + i]) ? replacements : fresh).push_back(i);
    }
    std::size_t start = 0;
    if (graph->cur_element_count == 0 && !fresh.empty()) {  // hnswlib wants its entry point set before parallel inserts
      insert_one(fresh[0], 0);
      start = 1;
    }
    engine::parallel_for(fresh.size() - start, workers,
                         [&](std::size_t i, std::size_t worker) { insert_one(fresh[start + i], worker); });
    for (std::size_t i : replacements) insert_one(i, 0);
    inserts_since_walk += replacements.size();
    if (spec.graph == GraphKind::Attention) {
      inserted_since_learned += count;
      if (sample_queries.rows > 0) link_through_sample_queries(vectors, ids, first, fresh, workers);
    }
  }

  // hnswlib linked each new key of an attention graph to the keys nearest it, but queries
  // unlike the keys do not walk that way: the learned graph links a key to the keys that
  // the queries retrieving it also retrieve. So the sample queries that score a new key
  // best walk the graph, and the key is linked to what they find, and back, with
  // hnswlib's pruning rule. The caller holds the writer lock.
  void link_through_sample_queries(MatrixView vectors, const std::vector<std::uint64_t>& ids, std::size_t first,
                                   std::span<const std::size_t> fresh, std::size_t workers) {
    if (fresh.empty() || graph->cur_element_count < 2) return;
    // Measured on the real attention keys grown from empty (bench/RESULTS.md): at equal
    // cost per key, four walks of half the construction width beat two full ones and
    // eight short ones.
    constexpr std::size_t guides = 4;
    const std::size_t window = std::max<std::size_t>(spec.ef_construction / 2, spec.M);
    Matrix rows(fresh.size(), spec.dim);
    std::vector<std::uint32_t> internal(fresh.size());
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      std::copy_n(vectors.row(first + fresh[i]).data(), spec.dim, rows.row(i).data());
      internal[i] = graph->label_lookup_.at(ids[first + fresh[i]]);
    }
    const auto best_queries = exact_search(sample_queries.view(), rows.view(), guides, spec.metric, workers);
    // Walks only read the lists, so they run in parallel before any list changes.
    std::vector<std::vector<std::uint32_t>> found(fresh.size());
    engine::parallel_for(fresh.size(), workers, [&](std::size_t i, std::size_t) {
      SearchStats ignored;
      for (const Hit& guide : best_queries[i]) {
        auto prepared = encoder->prepare(sample_queries.row(guide.id));
        auto visited = this->visited.acquire(graph->max_elements_);
        encoder->with_primary_distance(prepared, [&](const auto& distance) {
          for (const auto& c : engine::search_unfiltered(*graph, distance, window, window, nullptr, visited, ignored)) {
            found[i].push_back(c.id);
          }
        });
      }
    });
    // Then each key's list and its neighbours' lists, one lock held at a time.
    using Queue = std::priority_queue<std::pair<float, hnswlib::tableint>, std::vector<std::pair<float, hnswlib::tableint>>,
                                      Graph::CompareByFirst>;
    auto between = [&](std::uint32_t a, std::uint32_t b) {
      return graph->fstdistfunc_(graph->getDataByInternalId(a), graph->getDataByInternalId(b), graph->dist_func_param_);
    };
    auto links_of = [&](std::uint32_t node) {
      auto* list = graph->get_linklist0(node);
      return std::span(reinterpret_cast<std::uint32_t*>(list + 1), graph->getListCount(list));
    };
    auto write_links = [&](std::uint32_t node, Queue& kept) {
      auto* list = graph->get_linklist0(node);
      auto* links = reinterpret_cast<std::uint32_t*>(list + 1);
      std::size_t count = 0;
      for (; !kept.empty(); kept.pop()) links[count++] = kept.top().second;
      graph->setListCount(list, static_cast<unsigned short>(count));
    };
    engine::parallel_for(fresh.size(), workers, [&](std::size_t i, std::size_t) {
      const std::uint32_t key = internal[i];
      std::vector<std::uint32_t> pool = std::move(found[i]);
      {
        std::lock_guard lock(graph->link_list_locks_[key]);
        const auto current = links_of(key);
        pool.insert(pool.end(), current.begin(), current.end());
      }
      std::sort(pool.begin(), pool.end());
      pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
      Queue candidates;
      for (const std::uint32_t c : pool) {
        if (c != key) candidates.emplace(between(key, c), c);
      }
      graph->getNeighborsByHeuristic2(candidates, graph->M_);
      std::vector<std::uint32_t> chosen;
      for (Queue copy = candidates; !copy.empty(); copy.pop()) chosen.push_back(copy.top().second);
      {
        std::lock_guard lock(graph->link_list_locks_[key]);
        write_links(key, candidates);
      }
      for (const std::uint32_t neighbour : chosen) {
        std::lock_guard lock(graph->link_list_locks_[neighbour]);
        const auto links = links_of(neighbour);
        if (std::find(links.begin(), links.end(), key) != links.end()) continue;
        if (links.size() < graph->maxM0_) {
          links.data()[links.size()] = key;
          graph->setListCount(graph->get_linklist0(neighbour), static_cast<unsigned short>(links.size() + 1));
          continue;
        }
        Queue merged;
        merged.emplace(between(neighbour, key), key);
        for (const std::uint32_t c : links) merged.emplace(between(neighbour, c), c);
        graph->getNeighborsByHeuristic2(merged, graph->maxM0_);
        write_links(neighbour, merged);
      }
    });
  }

  void add(std::span<const std::uint64_t> id_span, MatrixView vectors, const BuildOptions& options) {
    check_vectors(vectors, spec, "vectors");
    {
      std::shared_lock lock(mutex);
      check_batch(limits, vectors.rows, "a batch");
    }
    auto ids = resolve_ids(id_span, vectors.rows);
    std::lock_guard one_add(add_mutex);
    {
      // Room for the whole batch up front: growing chunk by chunk would over-allocate.
      std::unique_lock lock(mutex);
      auto [new_slots, new_live] = count_new(ids);
      check_growth(new_slots, new_live);
      ensure_capacity(new_slots);
    }
    for (std::size_t first = 0; first < vectors.rows; first += add_chunk) {
      std::size_t count = std::min(add_chunk, vectors.rows - first);
      {
        std::unique_lock lock(mutex);
        // Normally reserved above; a compact() between chunks may have shrunk the graph.
        ensure_capacity(count_new(std::span(ids).subspan(first, count)).first);
        insert(vectors, ids, first, count, options.threads);
      }
      if (options.progress && !options.progress({first + count, vectors.rows})) {
        relink_orphans(options.threads);  // what was inserted stays, so it must stay findable
        throw Cancelled("cancelled after " + std::to_string(first + count) + " of " + std::to_string(vectors.rows) +
                        " vectors");
      }
    }
    relink_orphans(options.threads);
  }

  // Once per add rather than per chunk. The full walk reads every level-0 list (20 ms
  // at 60k 784-d vectors), so small adds only check their own nodes and the walk runs
  // once the graph has taken 1/32 of its size in inserts since the last one.
  void relink_orphans(std::size_t threads) {
    std::unique_lock lock(mutex);
    if (!graph) return;
    const std::size_t elements = graph->cur_element_count;
    // A graph loaded or compacted since: its new nodes are unknown, so walk it all.
    if (elements < elements_at_last_check || elements_at_last_check == 0) inserts_since_walk = elements;
    inserts_since_walk += elements - std::min(elements, elements_at_last_check);
    if (inserts_since_walk * 32 >= elements) {
      engine::reconnect(*graph, threads);
      inserts_since_walk = 0;
    } else {
      engine::link_new_nodes(*graph, static_cast<hnswlib::tableint>(elements_at_last_check),
                             static_cast<hnswlib::tableint>(elements));
    }
    elements_at_last_check = elements;
  }

  // Keeps the sample queries an attention graph learns from, as given: compact() learns
  // the graph again from them, and the memory budget counts them.
  void keep_sample_queries(MatrixView queries, const std::string& how_to_pass) {
    if (queries.rows == 0) {
      throw InvalidArgument("spec '" + spec.to_string() + "' builds its graph from sample queries: pass them " +
                            how_to_pass);
    }
    check_vectors(queries, spec, "sample queries");
    engine::check_sample_query_count(queries.rows);
    sample_queries = Matrix(queries.rows, queries.cols);
    std::copy_n(queries.data, queries.rows * queries.cols, sample_queries.values.begin());
  }

  // Builds the graph from `queries` (validated sample queries: the kept ones, or the
  // compacted index's) instead of inserting one by one, then lays the vectors and lists
  // out in hnswlib's one-layer form.
  void build_attention(std::span<const std::uint64_t> id_span, MatrixView vectors, MatrixView queries,
                       const BuildOptions& options) {
    auto ids = resolve_ids(id_span, vectors.rows);
    Matrix unit_data;
    Matrix unit_queries;
    if (spec.metric == Metric::Cosine) {  // the graph learns on the vectors as the metric sees them
      unit_data = Matrix(vectors.rows, vectors.cols);
      unit_queries = Matrix(queries.rows, queries.cols);
      for (std::size_t i = 0; i < vectors.rows; ++i) {
        std::copy_n(vectors.row(i).data(), vectors.cols, unit_data.row(i).data());
        quant::normalize(unit_data.row(i));
      }
      for (std::size_t i = 0; i < queries.rows; ++i) {
        std::copy_n(queries.row(i).data(), queries.cols, unit_queries.row(i).data());
        quant::normalize(unit_queries.row(i));
      }
      vectors = unit_data;
      queries = unit_queries;
    }
    engine::AttentionGraphParams params;
    params.degree = spec.M;
    params.beam = spec.ef_construction;
    params.query_neighbours = spec.query_neighbours;
    params.threads = options.threads;
    params.learning_queries = spec.learning_queries;
    params.seed = seed;
    params.progress = options.progress;
    {
      std::unique_lock lock(mutex);
      check_batch(limits, vectors.rows, "a batch");
      check_growth(vectors.rows, vectors.rows);
    }
    auto attention = engine::build_attention_graph(vectors, queries, spec.metric, params);

    std::unique_lock lock(mutex);
    ensure_capacity(vectors.rows);
    std::size_t threads = engine::resolve_threads(options.threads);
    std::vector<std::vector<std::byte>> scratch(threads, std::vector<std::byte>(secondary_bytes()));
    engine::parallel_for(vectors.rows, threads, [&](std::size_t i, std::size_t worker) {
      auto id = static_cast<std::uint32_t>(i);
      auto* list = graph->get_linklist0(id);
      std::memset(list, 0, graph->size_links_level0_);
      const auto& neighbours = attention.neighbours[i];
      graph->setListCount(list, static_cast<unsigned short>(neighbours.size()));
      std::copy(neighbours.begin(), neighbours.end(), reinterpret_cast<std::uint32_t*>(list + 1));
      encoder->encode(vectors.row(i), reinterpret_cast<std::byte*>(graph->getDataByInternalId(id)),
                      scratch[worker].data());
      std::copy_n(scratch[worker].data(), secondary_bytes(), secondary.data() + i * secondary_bytes());
      graph->setExternalLabel(id, ids[i]);
      graph->element_levels_[i] = 0;
    });
    for (std::size_t i = 0; i < vectors.rows; ++i) graph->label_lookup_[ids[i]] = static_cast<std::uint32_t>(i);
    graph->cur_element_count = vectors.rows;
    graph->enterpoint_node_ = attention.entry;
    graph->maxlevel_ = 0;
    inserted_since_learned = 0;
    // The learned lists need not reach every key from the entry point: where a few hub
    // keys top every query, the hubs' pruned lists were the only way in to most keys (on
    // the seeded hub-dominated set, 14k of 20k keys were unreachable). No sample query
    // led to those keys, so they hang off each other, and the hubs' lists stay the queries'.
    engine::reconnect(*graph, threads, engine::CutOffNodes::hung_in_trees);
    inserts_since_walk = 0;
    elements_at_last_check = graph->cur_element_count;
  }

  std::vector<Hit> search(std::span<const float> query, const SearchParams& params, SearchStats& stats) const {
    if (query.size() != spec.dim) {
      throw InvalidArgument("query has " + std::to_string(query.size()) + " dimensions but the index expects " +
                            std::to_string(spec.dim));
    }
    for (std::size_t j = 0; j < query.size(); ++j) {
      if (!std::isfinite(query[j])) {
        throw InvalidArgument("query component " + std::to_string(j) + " is " +
                              (std::isnan(query[j]) ? "NaN" : "infinite") + "; queries must be finite");
      }
    }
    if (params.k == 0) throw InvalidArgument("k = 0: ask for at least one result");
    if (params.ef == 0) throw InvalidArgument("ef = 0: the search window must hold at least one candidate");
    if (params.buffer != 0 && params.buffer < params.ef) {
      throw InvalidArgument("buffer = " + std::to_string(params.buffer) + " is smaller than ef = " +
                            std::to_string(params.ef) + "; use 0 for a buffer of ef");
    }
    if (!(params.min_relevance >= 0.0f && params.min_relevance <= 1.0f)) {
      throw InvalidArgument("min_relevance = " + std::to_string(params.min_relevance) +
                            " is outside [0, 1]: it is a probability of relevance");
    }
    std::shared_lock lock(mutex);
    std::size_t live_count = live();
    if (live_count == 0) throw InvalidArgument("the index is empty: add vectors before searching");
    if (params.k > live_count) {
      throw InvalidArgument("k = " + std::to_string(params.k) + " exceeds the " + std::to_string(live_count) +
                            " vectors in the index");
    }
    if (params.min_relevance > 0.0f && !relevance) {
      throw InvalidArgument("min_relevance = " + std::to_string(params.min_relevance) +
                            " needs a relevance filter, but none is attached to the index: attach one with "
                            "set_relevance_filter or leave min_relevance at 0");
    }

    // The filter's score features describe the top training_k() list it was trained on,
    // so the walk collects that many hits even when fewer are returned.
    std::size_t k = params.k;
    std::size_t ef = params.ef;
    if (relevance) {
      k = std::min(std::max(k, relevance->training_k()), live_count);
      ef = std::max(ef, k);
    }
    auto prepared = encoder->prepare(query);
    // A window narrower than k walks less; the buffer still keeps the best k scored.
    std::size_t capacity = std::max({ef, params.buffer, k});
    auto visited = this->visited.acquire(graph->max_elements_);
    std::vector<engine::Candidate> found;
    encoder->with_primary_distance(prepared, [&](const auto& distance) {
      if (params.filter == nullptr && graph->num_deleted_ == 0) {
        found = engine::search_unfiltered(*graph, distance, ef, capacity, params.cancel, visited, stats);
      } else {
        auto admit = [&](std::uint32_t id) {
          return !graph->isMarkedDeleted(id) &&
                 (params.filter == nullptr || params.filter->allows(graph->getExternalLabel(id)));
        };
        found = engine::search_filtered(*graph, distance, capacity, admit, params.cancel, visited, stats);
      }
    });
    ++stats.queries;

    if (secondary_bytes() > 0 || encoder->walk_is_coarse()) {  // re-rank the whole buffer
      for (auto& candidate : found) {
        candidate.distance = encoder->secondary_distance(
            prepared, reinterpret_cast<const std::byte*>(graph->getDataByInternalId(candidate.id)),
            secondary.data() + std::size_t{candidate.id} * secondary_bytes());
      }
      stats.distances += found.size();
      std::size_t keep = std::min(k, found.size());
      std::partial_sort(found.begin(), found.begin() + keep, found.end(),
                        [](const auto& a, const auto& b) { return a.distance < b.distance; });
    }

    std::vector<Hit> hits(std::min(k, found.size()));
    bool negate = higher_is_better(spec.metric);
    for (std::size_t i = 0; i < hits.size(); ++i) {
      hits[i] = {graph->getExternalLabel(found[i].id), negate ? -found[i].distance : found[i].distance};
    }
    if (!relevance) return hits;

    auto filter = relevance;  // scoring needs no graph: let writers in
    lock.unlock();
    auto probabilities = filter->relevance(query, hits, spec.metric);
    for (std::size_t i = 0; i < hits.size(); ++i) hits[i].relevance = probabilities[i];
    if (hits.size() > params.k) hits.resize(params.k);
    std::erase_if(hits, [&](const Hit& hit) { return hit.relevance < params.min_relevance; });
    return hits;
  }
};

Index::Index(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Index::Index(Index&&) noexcept = default;
Index& Index::operator=(Index&&) noexcept = default;
Index::~Index() = default;

Index Index::create(const IndexSpec& spec, const ResourceLimits& limits) {
  if (spec.graph == GraphKind::Attention) {
    throw InvalidArgument("spec '" + spec.to_string() +
                          "' learns its graph from sample queries: create it with Index::create(spec, "
                          "sample_queries), or build it from data with Index::build");
  }
  auto impl = std::make_unique<Impl>(std::make_shared<engine::VectorEncoder>(spec), 100);
  impl->limits = limits;
  return Index(std::move(impl));
}

Index Index::create(const IndexSpec& spec, MatrixView sample_queries, const ResourceLimits& limits) {
  if (spec.graph != GraphKind::Attention) {
    throw InvalidArgument("spec '" + spec.to_string() +
                          "' does not learn from sample queries (only attention graphs do): create it without them");
  }
  auto impl = std::make_unique<Impl>(std::make_shared<engine::VectorEncoder>(spec), 100);
  impl->limits = limits;
  impl->keep_sample_queries(sample_queries, "to Index::create");
  return Index(std::move(impl));
}

Index Index::build(const IndexSpec& spec, MatrixView data, std::span<const std::uint64_t> ids,
                   const BuildOptions& options, const ResourceLimits& limits) {
  check_vectors(data, spec, "vectors");
  // The counts are known before training; the memory estimate needs the trained codes'
  // sizes and is checked by add().
  check_batch(limits, data.rows, "a build");
  if (limits.max_vectors != 0 && data.rows > limits.max_vectors) {
    throw ResourceExhausted("building from " + std::to_string(data.rows) +
                            " vectors would exceed ResourceLimits::max_vectors = " + std::to_string(limits.max_vectors));
  }
  auto encoder = engine::VectorEncoder::train(spec, data, options.sample_queries, options.threads);
  auto impl = std::make_unique<Impl>(std::make_shared<engine::VectorEncoder>(std::move(encoder)), options.seed);
  impl->limits = limits;
  if (spec.graph == GraphKind::Attention) {
    impl->keep_sample_queries(options.sample_queries,
                              "in BuildOptions::sample_queries (--sample-queries on the command line)");
    impl->build_attention(ids, data, impl->sample_queries, options);
  } else {
    impl->add(ids, data, options);
  }
  return Index(std::move(impl));
}

Index Index::load(const std::filesystem::path& directory, const ResourceLimits& limits) {
  auto manifest = engine::Manifest::read(directory);
  auto encoder = manifest.files.contains("encoder")
                     ? engine::VectorEncoder::load(manifest.spec, manifest.verified_path(directory, "encoder"))
                     : engine::VectorEncoder(manifest.spec);
  auto impl = std::make_unique<Impl>(std::make_shared<engine::VectorEncoder>(std::move(encoder)), manifest.seed);
  if (manifest.files.contains("relevance_filter")) {  // absent from directories saved without one
    auto filter_path = manifest.verified_path(directory, "relevance_filter");
    auto filter = RelevanceFilter::load(filter_path);
    if (filter.dim() != manifest.spec.dim || filter.metric() != manifest.spec.metric) {
      throw CorruptFile(filter_path.string() + ": relevance filter for " + std::to_string(filter.dim()) +
                        " dimensions, " + to_string(filter.metric()) + ", but the index has " +
                        std::to_string(manifest.spec.dim) + " dimensions, " + to_string(manifest.spec.metric));
    }
    impl->relevance = std::make_shared<const RelevanceFilter>(std::move(filter));
  }
  if (manifest.files.contains("sample_queries")) {  // attention graphs saved since 2026-12-07
    auto queries_path = manifest.verified_path(directory, "sample_queries");
    impl->sample_queries = read_vectors(queries_path);
    if (impl->sample_queries.cols != manifest.spec.dim) {
      throw CorruptFile(queries_path.string() + ": sample queries of " + std::to_string(impl->sample_queries.cols) +
                        " dimensions, but the index has " + std::to_string(manifest.spec.dim));
    }
  }
  impl->inserted_since_learned = manifest.inserted_since_learned;
  impl->limits = limits;
  if (manifest.elements == 0) return Index(std::move(impl));

  // Refused from the manifest's counts, before the graph file is read or allocated for.
  if (limits.max_vectors != 0 && manifest.elements - manifest.deleted > limits.max_vectors) {
    throw ResourceExhausted("index '" + directory.string() + "' holds " +
                            std::to_string(manifest.elements - manifest.deleted) +
                            " vectors, over ResourceLimits::max_vectors = " + std::to_string(limits.max_vectors));
  }
  if (limits.memory_budget_bytes != 0) {
    std::size_t bytes = impl->estimated_bytes(manifest.elements, manifest.elements);
    if (bytes > limits.memory_budget_bytes) {
      throw ResourceExhausted("index '" + directory.string() + "' needs about " + std::to_string(bytes) + " bytes for " +
                              std::to_string(manifest.elements) +
                              " slots, over ResourceLimits::memory_budget_bytes = " +
                              std::to_string(limits.memory_budget_bytes));
    }
  }

  auto path = manifest.verified_path(directory, "graph");
  auto summary = engine::check_hnsw_file(path, {manifest.elements, impl->encoder->primary_bytes(), manifest.spec.M,
                                                manifest.spec.graph == GraphKind::Attention});
  if (summary.deleted != manifest.deleted) {
    throw CorruptFile(path.string() + ": " + std::to_string(summary.deleted) + " deleted elements, the manifest says " +
                      std::to_string(manifest.deleted));
  }
  try {
    impl->graph = std::make_unique<Graph>(impl->space.get(), path.string(), false, manifest.elements);
    // hnswlib's loading constructor adds to a deletion counter it never initialised.
    impl->graph->num_deleted_ = summary.deleted;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& error) {
    throw CorruptFile(path.string() + ": " + error.what());
  }

  if (impl->secondary_bytes() > 0) {
    auto secondary_path = manifest.verified_path(directory, "secondary");
    std::size_t expected = manifest.elements * impl->secondary_bytes();
    if (std::filesystem::file_size(secondary_path) != expected) {
      throw CorruptFile(secondary_path.string() + ": " + std::to_string(std::filesystem::file_size(secondary_path)) +
                        " bytes, expected " + std::to_string(expected) + " for " + std::to_string(manifest.elements) +
                        " re-rank vectors");
    }
    impl->secondary.resize(expected);
    std::ifstream in(secondary_path, std::ios::binary);
    in.read(reinterpret_cast<char*>(impl->secondary.data()), static_cast<std::streamsize>(expected));
    if (!in) throw IoError("cannot read '" + secondary_path.string() + "'");
  }
  return Index(std::move(impl));
}

void Index::add(std::span<const std::uint64_t> ids, MatrixView vectors, const BuildOptions& options) {
  impl_->add(ids, vectors, options);
}

void Index::set_limits(const ResourceLimits& limits) {
  std::unique_lock lock(impl_->mutex);
  impl_->limits = limits;
}

ResourceLimits Index::limits() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->limits;
}

void Index::remove(std::uint64_t id) {
  std::unique_lock lock(impl_->mutex);
  auto& graph = impl_->graph;
  bool present = false;
  if (graph) {
    auto it = graph->label_lookup_.find(id);
    present = it != graph->label_lookup_.end() && !graph->isMarkedDeleted(it->second);
  }
  if (!present) throw NotFound("id " + std::to_string(id) + " is not in the index");
  graph->markDelete(id);
}

bool Index::contains(std::uint64_t id) const {
  std::shared_lock lock(impl_->mutex);
  const auto& graph = impl_->graph;
  if (!graph) return false;
  auto it = graph->label_lookup_.find(id);
  return it != graph->label_lookup_.end() && !graph->isMarkedDeleted(it->second);
}

void Index::compact(const BuildOptions& options) {
  // One writer: no add() runs between the snapshot and the swap. Searches and remove()
  // go on while the new graph is built; removes made meanwhile are carried over below.
  std::lock_guard one_writer(impl_->add_mutex);
  Matrix live;
  std::vector<std::uint64_t> ids;
  {
    std::shared_lock lock(impl_->mutex);
    const auto& graph = impl_->graph;
    // Nothing to drop, and for an attention graph nothing linked since it was learned.
    const bool unlearned_keys = impl_->sample_queries.rows > 0 && impl_->inserted_since_learned > 0;
    if (!graph || (graph->num_deleted_ == 0 && !unlearned_keys)) return;
    live = Matrix(impl_->live(), impl_->spec.dim);
    ids.reserve(live.rows);
    for (std::size_t i = 0; i < graph->cur_element_count; ++i) {
      if (graph->isMarkedDeleted(i)) continue;
      impl_->encoder->reconstruct(reinterpret_cast<const std::byte*>(graph->getDataByInternalId(i)),
                                  impl_->secondary.data() + i * impl_->secondary_bytes(), live.row(ids.size()));
      ids.push_back(graph->getExternalLabel(i));
    }
  }
  // The trained encoder is kept: compaction changes the graph, not the codes' meaning.
  Impl rebuilt(impl_->encoder, impl_->seed);
  BuildOptions rebuild_options;
  rebuild_options.threads = options.threads;
  rebuild_options.progress = options.progress;
  // An attention graph is learned again from its sample queries: inserted the HNSW way,
  // it would lose what lets queries unlike the data find their neighbours. Indexes saved
  // before the queries were kept have none and are rebuilt by insertion.
  if (impl_->spec.graph == GraphKind::Attention && impl_->sample_queries.rows > 0 && live.rows > 0) {
    rebuilt.build_attention(ids, live, impl_->sample_queries, rebuild_options);
  } else {
    rebuilt.add(ids, live, rebuild_options);
  }

  std::unique_lock lock(impl_->mutex);
  auto& graph = impl_->graph;
  for (const std::uint64_t id : ids) {
    if (graph->isMarkedDeleted(graph->label_lookup_.at(id))) rebuilt.graph->markDelete(id);
  }
  graph = std::move(rebuilt.graph);
  impl_->space = std::move(rebuilt.space);
  impl_->secondary = std::move(rebuilt.secondary);
  impl_->inserted_since_learned = rebuilt.inserted_since_learned;
}

std::vector<Hit> Index::search(std::span<const float> query, const SearchParams& params, SearchStats* stats) const {
  SearchStats local;
  auto hits = impl_->search(query, params, local);
  if (stats) *stats += local;
  return hits;
}

std::vector<Hit> Index::search_ids(std::span<const float> query, std::span<const std::uint64_t> ids, std::size_t k,
                                   SearchStats* stats, UnknownIds unknown) const {
  const auto& spec = impl_->spec;
  if (query.size() != spec.dim) {
    throw InvalidArgument("query has " + std::to_string(query.size()) + " dimensions but the index expects " +
                          std::to_string(spec.dim));
  }
  for (std::size_t j = 0; j < query.size(); ++j) {
    if (!std::isfinite(query[j])) {
      throw InvalidArgument("query component " + std::to_string(j) + " is not finite; queries must be finite");
    }
  }
  if (k == 0) throw InvalidArgument("k = 0: ask for at least one result");
  auto prepared = impl_->encoder->prepare(query);
  std::shared_lock lock(impl_->mutex);
  const auto& graph = impl_->graph;
  std::vector<engine::Candidate> scored;
  scored.reserve(ids.size());
  const bool reject_unknown = unknown == UnknownIds::Reject;
  if (!graph && !ids.empty() && reject_unknown) {
    throw NotFound("id " + std::to_string(ids.front()) + " is not in the index");
  }
  if (!graph) return {};
  for (auto id : ids) {
    auto it = graph->label_lookup_.find(id);
    if (it == graph->label_lookup_.end()) {
      if (reject_unknown) throw NotFound("id " + std::to_string(id) + " is not in the index");
      continue;
    }
    if (!graph->isMarkedDeleted(it->second)) scored.push_back({0.0f, it->second});
  }
  const std::size_t secondary_bytes = impl_->secondary_bytes();
  if (secondary_bytes > 0 || impl_->encoder->walk_is_coarse()) {  // as search scores its results
    for (auto& candidate : scored) {
      candidate.distance = impl_->encoder->secondary_distance(
          prepared, reinterpret_cast<const std::byte*>(graph->getDataByInternalId(candidate.id)),
          impl_->secondary.data() + std::size_t{candidate.id} * secondary_bytes);
    }
  } else {
    impl_->encoder->with_primary_distance(prepared, [&](const auto& distance) {
      for (auto& candidate : scored) candidate.distance = distance(graph->getDataByInternalId(candidate.id));
    });
  }
  std::size_t keep = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + keep, scored.end(),
                    [](const auto& a, const auto& b) { return a.distance < b.distance; });
  std::vector<Hit> hits(keep);
  bool negate = higher_is_better(spec.metric);
  for (std::size_t i = 0; i < keep; ++i) {
    hits[i].id = graph->getExternalLabel(scored[i].id);
    hits[i].score = negate ? -scored[i].distance : scored[i].distance;
  }
  if (stats) {
    ++stats->queries;
    stats->distances += scored.size();
  }
  return hits;
}

std::vector<std::vector<Hit>> Index::search_batch(MatrixView queries, const SearchParams& params, std::size_t threads,
                                                  SearchStats* stats) const {
  if (queries.cols != impl_->spec.dim) {
    throw InvalidArgument("queries have " + std::to_string(queries.cols) + " dimensions but the index expects " +
                          std::to_string(impl_->spec.dim));
  }
  {
    std::shared_lock lock(impl_->mutex);
    check_batch(impl_->limits, queries.rows, "a query batch");
  }
  std::vector<std::vector<Hit>> results(queries.rows);
  threads = engine::resolve_threads(threads);
  std::vector<SearchStats> per_worker(threads);
  engine::parallel_for(
      queries.rows, threads,
      [&](std::size_t i, std::size_t worker) { results[i] = impl_->search(queries.row(i), params, per_worker[worker]); },
      4);
  if (stats) {
    for (const auto& s : per_worker) *stats += s;
  }
  return results;
}

void Index::set_relevance_filter(RelevanceFilter filter) {
  const auto& spec = impl_->spec;
  if (filter.dim() != spec.dim) {
    throw InvalidArgument("the relevance filter expects " + std::to_string(filter.dim()) +
                          "-dimensional queries but the index has " + std::to_string(spec.dim) +
                          " dimensions: train the filter on this index's vectors");
  }
  if (filter.metric() != spec.metric) {
    throw InvalidArgument("the relevance filter was trained on " + to_string(filter.metric()) +
                          " scores but the index uses " + to_string(spec.metric) +
                          ": train the filter with the index's metric");
  }
  auto shared = std::make_shared<const RelevanceFilter>(std::move(filter));
  std::unique_lock lock(impl_->mutex);
  impl_->relevance.swap(shared);  // the old filter is destroyed after the lock is released
}

void Index::clear_relevance_filter() {
  std::shared_ptr<const RelevanceFilter> old;  // destroyed after the lock is released
  std::unique_lock lock(impl_->mutex);
  old = std::move(impl_->relevance);
}

std::shared_ptr<const RelevanceFilter> Index::relevance_filter() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->relevance;
}

void Index::save(const std::filesystem::path& directory) const {
  std::shared_lock lock(impl_->mutex);
  std::filesystem::create_directories(directory);
  engine::Manifest manifest;
  manifest.format_version = index_format_version;
  manifest.quiver_version = quiver_version;
  manifest.spec = impl_->spec;
  manifest.seed = impl_->seed;
  const auto& graph = impl_->graph;
  // A fresh generation name per save: the previous files stay untouched until the
  // new manifest (written last) stops referring to them.
  std::random_device device;
  std::string generation = std::to_string(device()) + std::to_string(device());
  if (graph && graph->cur_element_count > 0) {
    manifest.elements = graph->cur_element_count;
    manifest.deleted = graph->num_deleted_;
    manifest.inserted_since_learned = impl_->inserted_since_learned;
    auto target = directory / ("graph-" + generation + ".hnsw");
    engine::write_atomically(target, [&](const std::filesystem::path& temp) {
      graph->saveIndex(temp.string());
      if (!std::filesystem::exists(temp) || std::filesystem::file_size(temp) != saved_bytes(*graph)) {
        throw IoError("could not write the graph to '" + temp.string() + "' (disk full?)");
      }
    });
    manifest.files["graph"] = engine::describe_file(target);
    if (impl_->secondary_bytes() > 0) {
      auto secondary_target = directory / ("secondary-" + generation + ".bin");
      engine::write_atomically(secondary_target, [&](const std::filesystem::path& temp) {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(impl_->secondary.data()),
                  static_cast<std::streamsize>(graph->cur_element_count * impl_->secondary_bytes()));
        out.flush();
        if (!out) throw IoError("could not write re-rank vectors to '" + temp.string() + "' (disk full?)");
      });
      manifest.files["secondary"] = engine::describe_file(secondary_target);
    }
  }
  if (impl_->encoder->has_trained_state()) {
    auto encoder_target = directory / ("encoder-" + generation + ".bin");
    engine::write_atomically(encoder_target, [&](const std::filesystem::path& temp) { impl_->encoder->save(temp); });
    manifest.files["encoder"] = engine::describe_file(encoder_target);
  }
  if (impl_->sample_queries.rows > 0) {
    auto queries_target = directory / ("sample-queries-" + generation + ".fbin");
    write_vectors(queries_target, impl_->sample_queries);  // written to a temp file, synced and renamed
    manifest.files["sample_queries"] = engine::describe_file(queries_target);
  }
  if (impl_->relevance) {
    auto filter_target = directory / ("relevance-" + generation + ".json");
    engine::write_atomically(filter_target, [&](const std::filesystem::path& temp) { impl_->relevance->save(temp); });
    manifest.files["relevance_filter"] = engine::describe_file(filter_target);
  }
  manifest.write(directory);
  // Files of earlier generations are unreachable now; removing them is best effort.
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    auto name = entry.path().filename().string();
    bool ours = name.starts_with("graph-") || name.starts_with("secondary-") || name.starts_with("encoder-") ||
                name.starts_with("relevance-") || name.starts_with("sample-queries-");
    bool current = std::any_of(manifest.files.begin(), manifest.files.end(),
                               [&](const auto& file) { return file.second.name == name; });
    if (ours && !current) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

const IndexSpec& Index::spec() const { return impl_->spec; }
std::size_t Index::primary_code_bytes() const { return impl_->encoder->primary_bytes(); }
std::size_t Index::rerank_code_bytes() const { return impl_->encoder->secondary_bytes(); }

std::size_t Index::size() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->live();
}

std::size_t Index::deleted_count() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->graph ? impl_->graph->num_deleted_ : 0;
}

std::size_t Index::inserted_since_learned() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->inserted_since_learned;
}

std::size_t Index::memory_bytes() const {
  std::shared_lock lock(impl_->mutex);
  const auto& graph = impl_->graph;
  // The sample queries an attention graph keeps for compaction, then codes and links as
  // allocated (base layer at capacity), counted as for hnswlib.
  const std::size_t kept_queries = impl_->sample_queries.values.capacity() * sizeof(float);
  if (!graph) return kept_queries;
  std::size_t bytes = graph->max_elements_ * graph->size_data_per_element_ + impl_->secondary.capacity() + kept_queries;
  for (std::size_t i = 0; i < graph->cur_element_count; ++i) {
    bytes += static_cast<std::size_t>(graph->element_levels_[i]) * graph->size_links_per_element_;
  }
  return bytes;
}

}  // namespace quiver

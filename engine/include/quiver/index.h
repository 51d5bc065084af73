// A vector index: the graph, the stored vectors, and quiver's own search loop over
// them. No metadata and no I/O policy beyond save/load of one directory. Searches may
// run concurrently with each other and with add/remove.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "quiver/build_options.h"
#include "quiver/hit.h"
#include "quiver/index_spec.h"
#include "quiver/matrix.h"
#include "quiver/resource_limits.h"
#include "quiver/search_params.h"

namespace quiver {

class RelevanceFilter;

// Format version of the index directory this build writes; it reads this and older.
inline constexpr int index_format_version = 1;

class QUIVER_API Index {
 public:
  // An empty index; vectors come with add(). Specs with LeanVec or qavq must be built
  // from data, attention graphs created with their sample queries (below).
  static Index create(const IndexSpec& spec, const ResourceLimits& limits = {});
  // An empty attention-graph index that keeps `sample_queries` (at least
  // min_attention_sample_queries, of the spec's dimension). add() links each key the HNSW
  // way, key to key, and to what the walks of the four sample queries that score it best
  // find; compact() learns the graph from all the sample queries' exact neighbours, which
  // still walks best (and is needed where a few keys top every query), so call it once
  // the keys are in (a Collection does so at checkpoints, see
  // CollectionOptions::relearn_inserted_fraction).
  static Index create(const IndexSpec& spec, MatrixView sample_queries, const ResourceLimits& limits = {});
  // Builds on all rows of `data` in parallel, first learning what the spec needs
  // (LeanVec maps, LVQ means; options.sample_queries for leanvec-ood). `ids` defaults
  // to 0..rows-1. `limits` are checked before any vector is inserted (ResourceExhausted)
  // and stay set on the index.
  static Index build(const IndexSpec& spec, MatrixView data, std::span<const std::uint64_t> ids = {},
                     const BuildOptions& options = {}, const ResourceLimits& limits = {});
  // Loads and validates an index directory written by save(). `limits` are checked
  // against the manifest's counts before the graph is read, and stay set on the index.
  static Index load(const std::filesystem::path& directory, const ResourceLimits& limits = {});

  Index(Index&&) noexcept;
  Index& operator=(Index&&) noexcept;
  ~Index();

  // Caps for later build/add/search_batch calls (quiver/resource_limits.h). An index
  // already past a new cap keeps its vectors; only further growth is refused.
  void set_limits(const ResourceLimits& limits);
  ResourceLimits limits() const;

  // Inserts vectors; an id already present is replaced. Throws ResourceExhausted, adding
  // nothing, when the batch, the resulting live count or the estimated memory would
  // exceed the index's limits.
  void add(std::span<const std::uint64_t> ids, MatrixView vectors, const BuildOptions& options = {});
  // Tombstones `id`: it is never returned again. Throws NotFound for an unknown id.
  void remove(std::uint64_t id);
  bool contains(std::uint64_t id) const;
  // Rebuilds the graph from the live vectors, dropping tombstones and their memory; an
  // attention graph is learned again from its sample queries (also when it has no
  // tombstones but keys added since it was learned). Searches and remove() proceed while
  // it builds (a remove made meanwhile holds in the new graph); add() waits for it.
  void compact(const BuildOptions& options = {});

  std::vector<Hit> search(std::span<const float> query, const SearchParams& params,
                          SearchStats* stats = nullptr) const;
  // Exact search over the given ids only (the small-filter path of filtered_search):
  // scores each with the full-dimension re-rank codes (the primary codes when the index
  // has none) and returns the best k, best first. Tombstoned ids are skipped; an id
  // the index does not hold throws NotFound naming it, unless `unknown` is Skip (for
  // callers whose ids come from a store updated apart from the index, where an id may
  // have been compacted away or not be added yet).
  enum class UnknownIds { Reject, Skip };
  std::vector<Hit> search_ids(std::span<const float> query, std::span<const std::uint64_t> ids, std::size_t k,
                              SearchStats* stats = nullptr, UnknownIds unknown = UnknownIds::Reject) const;
  // One result list per query row, computed on `threads` threads (0 = all).
  std::vector<std::vector<Hit>> search_batch(MatrixView queries, const SearchParams& params,
                                             std::size_t threads = 0, SearchStats* stats = nullptr) const;

  // Attaches a relevance filter (quiver/relevance_filter.h): every hit then carries
  // Hit::relevance and SearchParams::min_relevance can cut the list. Searches walk
  // for max(k, filter.training_k()) hits, since the filter reads the whole top list it
  // was trained on, then return the first k. Saved and loaded with the index. Throws
  // InvalidArgument when the filter's dimension or metric differs from the index's.
  void set_relevance_filter(RelevanceFilter filter);
  void clear_relevance_filter();
  // The attached filter, or null. Shared: a caller scoring with it is unaffected by a
  // concurrent set/clear_relevance_filter.
  std::shared_ptr<const RelevanceFilter> relevance_filter() const;

  // Writes atomically: a crash at any point leaves the previous contents of
  // `directory` loadable.
  void save(const std::filesystem::path& directory) const;

  const IndexSpec& spec() const;
  std::size_t size() const;            // live vectors
  std::size_t deleted_count() const;   // tombstones awaiting compact()
  // Attention graphs: keys linked by add() (new or replaced) since the graph was last
  // learned from the sample queries (build or compact); 0 for HNSW graphs.
  std::size_t inserted_since_learned() const;
  std::size_t memory_bytes() const;    // vectors + graph (+ kept sample queries), not process overhead
  std::size_t primary_code_bytes() const;  // per vector, walked by the graph
  std::size_t rerank_code_bytes() const;   // per vector, re-ranks the buffer (0: none)

 private:
  struct Impl;
  explicit Index(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver

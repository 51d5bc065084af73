// A durable collection: an Index, its AttributeStore and a write-ahead log, in one
// directory. It is what the Thrift service serves; embedders can use it directly.
//
// Durability: upsert() and remove() append to the log (SQLite, WAL mode,
// synchronous=FULL) before they touch the index; when they return, the change survives
// kill -9 of the process at any later moment. open() loads the last checkpoint of the
// index and replays the log entries it misses. checkpoint() saves the index atomically
// and trims the log it covers.
//
// Concurrency: any number of threads may search, get, contains and stats while one
// writer upserts or removes (writers, checkpoint and set/clear_relevance_filter are serialised
// among themselves); a search never waits for more than one index insert. Between a
// write's commit and its return, readers may see part of it (some ids of a batch, or
// an id's new vector before filters see its new attributes).
//
// A directory is opened by one Collection at a time (an exclusive flock, released when
// the process dies): open() of a collection already open throws IoError.
//
// Layout of the directory:
//   collection.sqlite   configuration (name, spec, metric, dim, format version), the
//                       float32 master copy of each live vector with its attributes,
//                       and the write log since the last checkpoint
//   attributes.sqlite   the AttributeStore
//   index/              the last checkpoint (Index::save), absent until the first one
//   sample_queries.fbin attention-graph collections: the sample queries the graph is
//                       learned from (the checkpoint keeps a copy)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/attribute_store.h"
#include "quiver/export.h"
#include "quiver/hit.h"
#include "quiver/index_spec.h"
#include "quiver/matrix.h"
#include "quiver/search_params.h"

namespace quiver {

class RelevanceFilter;

struct CollectionOptions {
  // A checkpoint is taken automatically after this many logged writes (0: only when
  // checkpoint() is called). Each checkpoint rewrites the index directory.
  std::size_t checkpoint_every = 50000;
  // A checkpoint first compacts the index (Index::compact) when tombstones are at least
  // this fraction of its vectors, live and deleted, so that deletes give their memory
  // back and stop slowing searches. In [0, 1]; 0: only when compact() is called.
  double compact_deleted_fraction = 0.2;
  // Attention-graph collections: a checkpoint first learns the graph again from the
  // sample queries (Index::compact) when the keys linked by insertion since it was last
  // learned are at least this fraction of the live keys. Until then new keys are linked
  // by insertion (Index::add), which walks nearly as well on real attention keys but not
  // where a few keys top every query. In [0, 1]; 0: only when compact() is called.
  double relearn_inserted_fraction = 0.1;
  std::size_t threads = 0;  // for replay, checkpoints and compaction; 0 = all hardware threads
};

// One item of an upsert batch.
struct UpsertItem {
  std::uint64_t id = 0;
  std::vector<float> vector;
  Attributes attributes;  // replaces all previous attributes of the id
};

struct CollectionSearchRequest {
  std::vector<float> vector;
  std::size_t k = 10;
  std::size_t ef = 0;        // 0: max(64, k); below k, see SearchParams::ef
  std::string filter;        // metadata filter expression; empty: no filter
  float min_relevance = 0;   // in [0, 1]; above 0 needs a relevance filter
  bool with_attributes = false;
};

struct CollectionHit {
  Hit hit;
  std::optional<Attributes> attributes;  // when requested and the id has any
};

struct CollectionStats {
  std::string name;
  IndexSpec spec;
  std::size_t size = 0;             // live vectors
  std::size_t deleted = 0;          // tombstones awaiting compaction
  std::size_t inserted_since_learned = 0;  // attention graphs: Index::inserted_since_learned
  std::size_t memory_bytes = 0;     // Index::memory_bytes
  std::uint64_t last_sequence = 0;  // sequence number of the newest logged write
  std::uint64_t checkpoint_sequence = 0;  // newest write the index checkpoint covers
  std::size_t log_entries = 0;      // writes logged since that checkpoint
  bool has_relevance_filter = false;
  // Set when open() found the index checkpoint missing or damaged and rebuilt it from
  // the stored vectors (saying why); empty when it loaded the checkpoint.
  std::string index_recovery;
};

class QUIVER_API Collection {
 public:
  // Creates `directory` (which must not exist yet) for vectors of `spec`. An attention
  // graph needs `sample_queries` (see Index::create; its graph is learned at
  // checkpoints, so checkpoint() after a bulk load), other specs take none. Throws
  // InvalidArgument for an empty name, an existing directory, missing or unneeded sample
  // queries, or a spec that cannot grow one upsert at a time (LeanVec and qavq learn
  // from data: build them with Index::build), and IoError when the directory cannot be
  // made.
  static Collection create(const std::filesystem::path& directory, std::string name, const IndexSpec& spec,
                           const CollectionOptions& options = {}, MatrixView sample_queries = {});
  // Opens an existing collection and replays the log past its checkpoint (then takes a
  // checkpoint when the log holds options.checkpoint_every writes or more). A missing or
  // damaged index checkpoint is rebuilt from the stored vectors and checkpointed again
  // (CollectionStats::index_recovery says why; a relevance filter, saved with the index,
  // must then be set again). Throws NotFound when `directory` holds no collection,
  // CorruptFile naming collection.sqlite or attributes.sqlite when those are damaged,
  // IoError when the collection is open already.
  static Collection open(const std::filesystem::path& directory, const CollectionOptions& options = {});

  Collection(Collection&&) noexcept;
  Collection& operator=(Collection&&) noexcept;
  ~Collection();

  // Validates every item first (dimension, finite values, a nonzero vector under
  // cosine, ids distinct within the batch, attribute names, types and UTF-8 strings)
  // and writes nothing when one is bad (InvalidArgument naming the item's index and id).
  // Then logs the batch in one transaction, and applies it. An id already present is
  // replaced, vector and attributes. Returns the sequence number of the batch (an empty
  // batch writes nothing and returns the newest sequence).
  //
  // When applying a logged batch fails (IoError from the attribute database, say), the
  // write is durable but not yet visible: the collection then refuses further writes
  // with IoError until it is reopened, which replays it. An IoError from the automatic
  // checkpoint also arrives after the batch is durable; retrying the batch is harmless.
  std::uint64_t upsert(std::span<const UpsertItem> items);
  // Removes ids and their attributes, logged in one transaction like upsert (and under
  // one sequence number). Unknown ids are skipped; returns how many were removed.
  std::size_t remove(std::span<const std::uint64_t> ids);

  // The stored vector and attributes of `id` (tag lists sorted, without duplicates, as
  // the AttributeStore reads them); nullopt when it is not live. Read from
  // collection.sqlite: a write is visible here once it is durable.
  struct Record {
    std::vector<float> vector;
    Attributes attributes;
  };
  std::optional<Record> get(std::uint64_t id) const;
  bool contains(std::uint64_t id) const;

  // Best first; fewer than k hits when the collection (or the filter) holds fewer, none
  // when it is empty. Throws InvalidArgument for a wrong dimension, a non-finite value,
  // k of 0, a malformed filter or one naming an unknown attribute, min_relevance
  // outside [0, 1], or above 0 without a relevance filter.
  std::vector<CollectionHit> search(const CollectionSearchRequest& request) const;

  // Attaches the filter to the index (Index::set_relevance_filter) and takes a
  // checkpoint, since the filter is saved with the index rather than logged. Hits then
  // carry Hit::relevance, filtered searches included. Throws InvalidArgument when its
  // dimension or metric differs from the collection's.
  void set_relevance_filter(RelevanceFilter filter);
  // Detaches the relevance filter, durably (a checkpoint, as above): hits carry no
  // relevance again and min_relevance above 0 is refused. Returns whether one was attached.
  bool clear_relevance_filter();

  // Saves the index and trims the log, compacting first when the tombstones reach
  // CollectionOptions::compact_deleted_fraction. Writers wait; searches go on.
  void checkpoint();
  // Drops every tombstone now (Index::compact), then takes a checkpoint. Writers wait;
  // searches go on. Returns how many tombstones were dropped.
  std::size_t compact();

  CollectionStats stats() const;
  const std::string& name() const;
  const IndexSpec& spec() const;
  const std::filesystem::path& directory() const;

 private:
  struct Impl;
  explicit Collection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver

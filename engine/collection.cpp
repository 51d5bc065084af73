#include "quiver/collection.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "engine/collection_database.h"
#include "engine/io/unique_fd.h"
#include "engine/manifest.h"
#include "quiver/error.h"
#include "quiver/filtered_search.h"
#include "quiver/index.h"
#include "quiver/relevance_filter.h"
#include "quiver/vector_io.h"

namespace quiver {

namespace {

constexpr const char* database_file = "collection.sqlite";
constexpr const char* attributes_file = "attributes.sqlite";
constexpr const char* index_directory = "index";
constexpr const char* sample_queries_file = "sample_queries.fbin";

// Records read from collection.sqlite per Index::add during replay: bounds the memory
// a long log takes while keeping the adds large enough to run in parallel.
constexpr std::size_t replay_chunk = 4096;

// One open Collection per directory: two would each replay and checkpoint the same log
// into the same index/ and lose each other's writes. flock is released by the kernel
// when the process dies, so a crash never leaves the collection locked.
io::UniqueFd lock_directory(const std::filesystem::path& directory) {
  io::UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw IoError("cannot open collection directory '" + directory.string() + "': " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      throw IoError("collection '" + directory.string() +
                    "' is already open, in this or another process; open it once and share the Collection");
    }
    throw IoError("cannot lock collection directory '" + directory.string() + "': " + std::strerror(errno));
  }
  return fd;
}

std::string describe(std::size_t index, std::uint64_t id) {
  return "item " + std::to_string(index) + " (id " + std::to_string(id) + ")";
}

void check_vector(std::span<const float> vector, const IndexSpec& spec, const std::string& what) {
  if (vector.size() != spec.dim) {
    throw InvalidArgument(what + " has " + std::to_string(vector.size()) + " dimensions but the collection expects " +
                          std::to_string(spec.dim));
  }
  double norm = 0.0;
  for (std::size_t j = 0; j < vector.size(); ++j) {
    if (!std::isfinite(vector[j])) {
      throw InvalidArgument(what + ": component " + std::to_string(j) + " is " +
                            (std::isnan(vector[j]) ? "NaN" : "infinite") + "; values must be finite");
    }
    norm += double(vector[j]) * vector[j];
  }
  if (spec.metric == Metric::Cosine && norm == 0.0) {
    throw InvalidArgument(what + " is the zero vector, which has no direction under the cosine metric");
  }
}

AttributeValue value_of_type(AttributeType type) {
  switch (type) {
    case AttributeType::String: return std::string();
    case AttributeType::Int: return std::int64_t{0};
    case AttributeType::Double: return 0.0;
    case AttributeType::Tags: return std::vector<std::string>();
  }
  return {};
}

// Rejects a batch the index or the attribute store would refuse once it is logged: a
// logged write that cannot be applied would fail again at every replay. Attributes
// are checked by writing them to a scratch in-memory store that knows the real store's
// schema, so the rules (names, types, finite doubles, types agreeing within the batch)
// are the AttributeStore's own and cannot drift from them.
void check_batch(std::span<const UpsertItem> items, const IndexSpec& spec, const AttributeStore& store) {
  std::unordered_set<std::uint64_t> seen;
  seen.reserve(items.size());
  bool any_attributes = false;
  for (std::size_t i = 0; i < items.size(); ++i) {
    check_vector(items[i].vector, spec, describe(i, items[i].id));
    if (!seen.insert(items[i].id).second) {
      throw InvalidArgument(describe(i, items[i].id) + ": the id appears twice in one batch");
    }
    any_attributes = any_attributes || !items[i].attributes.empty();
  }
  if (!any_attributes) return;
  auto scratch = AttributeStore::in_memory();
  for (const auto& [name, type] : store.schema()) scratch.set(0, name, value_of_type(type));
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      scratch.set(items[i].id, items[i].attributes);
    } catch (const InvalidArgument& error) {
      throw InvalidArgument(describe(i, items[i].id) + ": " + error.what());
    }
  }
}

void check_options(const CollectionOptions& options) {
  if (!(options.compact_deleted_fraction >= 0 && options.compact_deleted_fraction <= 1)) {
    throw InvalidArgument("CollectionOptions::compact_deleted_fraction " +
                          std::to_string(options.compact_deleted_fraction) +
                          " is outside [0, 1]; it is the share of tombstones that triggers compaction (0: never)");
  }
  if (!(options.relearn_inserted_fraction >= 0 && options.relearn_inserted_fraction <= 1)) {
    throw InvalidArgument("CollectionOptions::relearn_inserted_fraction " +
                          std::to_string(options.relearn_inserted_fraction) +
                          " is outside [0, 1]; it is the share of keys linked since the attention graph was learned "
                          "that makes a checkpoint learn it again (0: never)");
  }
}

// An empty index of the collection's spec; an attention graph with the sample queries
// stored beside the database at create().
Index empty_index(const std::filesystem::path& directory, const IndexSpec& spec) {
  if (spec.graph != GraphKind::Attention) return Index::create(spec);
  const auto path = directory / sample_queries_file;
  if (!std::filesystem::is_regular_file(path)) {
    throw CorruptFile("'" + directory.string() + "' holds an attention-graph collection but no " +
                      sample_queries_file + " to learn its graph from");
  }
  auto queries = read_vectors(path);
  if (queries.cols != spec.dim) {
    throw CorruptFile("'" + path.string() + "' holds sample queries of " + std::to_string(queries.cols) +
                      " dimensions, but the collection has " + std::to_string(spec.dim));
  }
  return Index::create(spec, queries);
}

}  // namespace

struct Collection::Impl {
  std::filesystem::path directory;
  CollectionOptions options;
  io::UniqueFd lock;
  std::unique_ptr<engine::CollectionDatabase> db;
  AttributeStore attributes;
  Index index;

  // Serialises upsert, remove, checkpoint and set/clear_relevance_filter. Searches and reads
  // never take it: the index, the store and the database's reader are each safe
  // concurrently with the one writer.
  std::mutex writer;
  // Set (under `writer`) when a logged write failed to apply: the index or the store
  // then lacks a durable write, so further writes and checkpoints (which would trim the
  // log entry that repairs it) are refused until open() replays the log.
  std::string broken;
  // Why open() rebuilt the index from the stored vectors; empty when it loaded the checkpoint.
  std::string recovery;

  Impl(std::filesystem::path dir, const CollectionOptions& opts, io::UniqueFd held,
       std::unique_ptr<engine::CollectionDatabase> database, AttributeStore store, Index loaded)
      : directory(std::move(dir)),
        options(opts),
        lock(std::move(held)),
        db(std::move(database)),
        attributes(std::move(store)),
        index(std::move(loaded)) {}

  BuildOptions build_options() const {
    BuildOptions build;
    build.threads = options.threads;
    return build;
  }

  void check_writable() const {
    if (!broken.empty()) {
      throw IoError("collection '" + directory.string() + "' refuses writes after a failed write (" + broken +
                    "); reopen it to replay the log");
    }
  }

  // Runs `apply` (bringing the index and the store up to a committed write), marking
  // the collection broken when it throws.
  template <typename Apply>
  void apply_logged(Apply&& apply) {
    try {
      apply();
    } catch (const std::exception& error) {
      broken = error.what();
      throw;
    }
  }

  // Makes the store hold exactly each item's attributes. set_many replaces only the
  // names it is given, so names the id had and the item lacks are erased first.
  void replace_attributes(std::span<const UpsertItem> items) {
    std::vector<std::uint64_t> ids;
    std::vector<Attributes> values;
    for (const auto& item : items) {
      if (attributes.contains(item.id)) {
        if (item.attributes.empty()) {
          attributes.erase(item.id);
        } else {
          Attributes current;
          try {
            current = attributes.get(item.id);
          } catch (const NotFound&) {
            // An id the store knows with no values: its only attribute was an empty tag list.
          }
          for (const auto& [name, value] : current) {
            if (!item.attributes.contains(name)) attributes.erase(item.id, name);
          }
        }
      }
      if (!item.attributes.empty()) {
        ids.push_back(item.id);
        values.push_back(item.attributes);
      }
    }
    if (!ids.empty()) attributes.set_many(ids, values);
  }

  // Attributes first: once an id is searchable, filters already see its attributes.
  void apply_upserts(std::span<const UpsertItem> items) {
    replace_attributes(items);
    Matrix vectors(items.size(), db->spec().dim);
    std::vector<std::uint64_t> ids(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      ids[i] = items[i].id;
      std::copy(items[i].vector.begin(), items[i].vector.end(), vectors.row(i).begin());
    }
    index.add(ids, vectors, build_options());
  }

  void apply_removal(std::uint64_t id) {
    // Absent after a replayed removal that the checkpoint already covered.
    if (index.contains(id)) index.remove(id);
    attributes.erase(id);
  }

  // Rebuilds the index from the master copies of every live vector, when the checkpoint
  // is lost or damaged: each stored record is applied (its attributes too, so the store
  // matches), then the removals logged since the checkpoint reach the store.
  void rebuild_from_master() {
    const std::vector<std::uint64_t> ids = db->stored_ids();
    std::vector<UpsertItem> batch;
    for (std::size_t first = 0; first < ids.size(); first += replay_chunk) {
      batch.clear();
      for (std::size_t i = first; i < std::min(ids.size(), first + replay_chunk); ++i) {
        auto record = db->read(ids[i]);
        if (record) batch.push_back({ids[i], std::move(record->vector), std::move(record->attributes)});
      }
      if (!batch.empty()) apply_upserts(batch);
    }
    for (const auto& change : db->changes_after(db->checkpoint_sequence().value_or(0))) {
      if (change.op == engine::LogOp::Remove) attributes.erase(change.id);
    }
  }

  // Brings the index and the store up to the log. Each logged id is set to its state in
  // collection.sqlite (the master copy: present with its vector and attributes, or
  // absent), so replaying a write the checkpoint already holds changes nothing.
  void replay() {
    auto changes = db->changes_after(db->checkpoint_sequence().value_or(0));
    std::vector<UpsertItem> batch;
    auto flush = [&] {
      if (!batch.empty()) apply_upserts(batch);
      batch.clear();
    };
    for (const auto& change : changes) {
      auto record = db->read(change.id);
      if (record.has_value() != (change.op == engine::LogOp::Upsert)) {
        throw CorruptFile("'" + (directory / database_file).string() + "': the log's last entry for id " +
                          std::to_string(change.id) + " is " +
                          (change.op == engine::LogOp::Upsert ? "an upsert" : "a removal") + " but the id is " +
                          (record ? "present" : "absent") + " in the vectors table");
      }
      if (!record) {
        apply_removal(change.id);
        continue;
      }
      batch.push_back({change.id, std::move(record->vector), std::move(record->attributes)});
      if (batch.size() == replay_chunk) flush();
    }
    flush();
  }

  // The caller holds `writer`.
  void checkpoint() {
    check_writable();
    const std::size_t deleted = index.deleted_count();
    if (options.compact_deleted_fraction > 0 && deleted > 0 &&
        static_cast<double>(deleted) >= options.compact_deleted_fraction * static_cast<double>(deleted + index.size())) {
      index.compact(build_options());
    } else if (const std::size_t unlearned = index.inserted_since_learned();
               options.relearn_inserted_fraction > 0 && unlearned > 0 &&
               static_cast<double>(unlearned) >= options.relearn_inserted_fraction * static_cast<double>(index.size())) {
      index.compact(build_options());  // learns the attention graph again, with the new keys
    }
    auto sequence = db->last_sequence();
    index.save(directory / index_directory);
    db->record_checkpoint(sequence);
  }

  void checkpoint_if_due() {
    if (options.checkpoint_every != 0 && db->log_entries() >= options.checkpoint_every) checkpoint();
  }

  std::vector<Hit> search_once(const CollectionSearchRequest& request, const SearchParams& params,
                               const AllowedIds* allowed) const {
    if (allowed == nullptr) return index.search(request.vector, params);
    return filtered_search(index, *allowed, request.vector, params).hits;
  }
};

Collection::Collection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Collection::Collection(Collection&&) noexcept = default;
Collection& Collection::operator=(Collection&&) noexcept = default;
Collection::~Collection() = default;

Collection Collection::create(const std::filesystem::path& directory, std::string name, const IndexSpec& spec,
                              const CollectionOptions& options, MatrixView sample_queries) {
  if (name.empty()) throw InvalidArgument("collection name is empty; give the collection a name");
  check_options(options);
  spec.validate();
  if (spec.reduction != Reduction::None) {
    throw InvalidArgument("spec '" + spec.to_string() +
                          "' reduces dimensions with LeanVec, whose maps are learned from data; a collection grows "
                          "one upsert at a time, so use a spec without leanvec (build such indexes with Index::build)");
  }
  const bool attention = spec.graph == GraphKind::Attention;
  if (attention && sample_queries.rows == 0) {
    throw InvalidArgument("spec '" + spec.to_string() +
                          "' learns its graph from sample queries: pass them to Collection::create "
                          "(create_collection_with_sample_queries in the service)");
  }
  if (!attention && sample_queries.rows > 0) {
    throw InvalidArgument("spec '" + spec.to_string() +
                          "' does not learn from sample queries (only attention graphs do): create it without them");
  }
  // Before the directory is made: whatever else cannot start empty is refused here.
  auto index = attention ? Index::create(spec, sample_queries) : Index::create(spec);

  bool made = false;
  try {
    if (directory.has_parent_path()) std::filesystem::create_directories(directory.parent_path());
    made = std::filesystem::create_directory(directory);
  } catch (const std::filesystem::filesystem_error& error) {
    throw IoError("cannot create collection directory '" + directory.string() + "': " + error.code().message());
  }
  if (!made) {
    throw InvalidArgument("'" + directory.string() +
                          "' already exists; create() makes a new collection in a new directory, open() opens one");
  }
  try {
    auto lock = lock_directory(directory);
    // Before the database: a directory with a database always has its sample queries.
    if (attention) write_vectors(directory / sample_queries_file, sample_queries);
    auto db = engine::CollectionDatabase::create(directory / database_file, name, spec);
    auto store = AttributeStore::open(directory / attributes_file);
    return Collection(std::make_unique<Impl>(directory, options, std::move(lock), std::move(db), std::move(store),
                                             std::move(index)));
  } catch (...) {
    // The directory is ours and holds nothing of value yet.
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
    throw;
  }
}

Collection Collection::open(const std::filesystem::path& directory, const CollectionOptions& options) {
  check_options(options);
  if (!std::filesystem::is_directory(directory)) {
    throw NotFound("collection directory '" + directory.string() + "' does not exist");
  }
  auto database_path = directory / database_file;
  if (!std::filesystem::is_regular_file(database_path)) {
    throw NotFound("'" + directory.string() + "' is not a quiver collection: it has no " + database_file);
  }
  auto lock = lock_directory(directory);
  auto db = engine::CollectionDatabase::open(database_path);
  auto store = AttributeStore::open(directory / attributes_file);

  // The index checkpoint is derived data: when it is missing or damaged, it is rebuilt
  // from the master copies in collection.sqlite rather than refused.
  auto index_path = directory / index_directory;
  bool saved = std::filesystem::exists(index_path / engine::Manifest::file_name);
  std::string recovery;
  std::optional<Index> index;
  if (!saved && db->checkpoint_sequence()) {
    recovery = "'" + index_path.string() + "' is missing, though collection.sqlite records a checkpoint up to write " +
               std::to_string(*db->checkpoint_sequence());
  } else if (saved) {
    // A checkpoint saved but not yet recorded (a crash in between) is loaded too: replay
    // from the recorded sequence re-applies writes it already holds, which is harmless.
    try {
      index = Index::load(index_path);
      if (index->spec().to_string() != db->spec().to_string() || index->spec().metric != db->spec().metric ||
          index->spec().dim != db->spec().dim) {
        recovery = "'" + index_path.string() + "' holds an index of spec '" + index->spec().to_string() + "', " +
                   to_string(index->spec().metric) + ", " + std::to_string(index->spec().dim) +
                   " dimensions; collection.sqlite says '" + db->spec().to_string() + "', " +
                   to_string(db->spec().metric) + ", " + std::to_string(db->spec().dim);
        index.reset();
      }
    } catch (const CorruptFile& error) {
      recovery = error.what();
    }
  }
  if (!index) index = empty_index(directory, db->spec());
  auto impl = std::make_unique<Impl>(directory, options, std::move(lock), std::move(db), std::move(store),
                                     std::move(*index));
  if (recovery.empty()) {
    impl->replay();
    impl->checkpoint_if_due();
  } else {
    impl->recovery = "rebuilt the index from the stored vectors: " + recovery;
    impl->rebuild_from_master();
    impl->checkpoint();
  }
  return Collection(std::move(impl));
}

std::uint64_t Collection::upsert(std::span<const UpsertItem> items) {
  std::lock_guard guard(impl_->writer);
  impl_->check_writable();
  if (items.empty()) return impl_->db->last_sequence();
  check_batch(items, impl_->db->spec(), impl_->attributes);
  auto sequence = impl_->db->log_upserts(items);
  impl_->apply_logged([&] { impl_->apply_upserts(items); });
  impl_->checkpoint_if_due();
  return sequence;
}

std::size_t Collection::remove(std::span<const std::uint64_t> ids) {
  std::lock_guard guard(impl_->writer);
  impl_->check_writable();
  auto removed = impl_->db->log_removals(ids);
  impl_->apply_logged([&] {
    for (auto id : removed) impl_->apply_removal(id);
  });
  impl_->checkpoint_if_due();
  return removed.size();
}

std::optional<Collection::Record> Collection::get(std::uint64_t id) const {
  auto record = impl_->db->read(id);
  if (!record) return std::nullopt;
  return Record{std::move(record->vector), std::move(record->attributes)};
}

bool Collection::contains(std::uint64_t id) const { return impl_->db->contains(id); }

std::vector<CollectionHit> Collection::search(const CollectionSearchRequest& request) const {
  const auto& spec = impl_->db->spec();
  if (request.vector.size() != spec.dim) {
    throw InvalidArgument("query has " + std::to_string(request.vector.size()) +
                          " dimensions but the collection expects " + std::to_string(spec.dim));
  }
  for (std::size_t j = 0; j < request.vector.size(); ++j) {
    if (!std::isfinite(request.vector[j])) {
      throw InvalidArgument("query component " + std::to_string(j) + " is " +
                            (std::isnan(request.vector[j]) ? "NaN" : "infinite") + "; queries must be finite");
    }
  }
  if (request.k == 0) throw InvalidArgument("k = 0: ask for at least one result");
  const std::size_t ef = request.ef == 0 ? std::max<std::size_t>(64, request.k) : request.ef;
  if (!(request.min_relevance >= 0.0f && request.min_relevance <= 1.0f)) {
    throw InvalidArgument("min_relevance = " + std::to_string(request.min_relevance) +
                          " is outside [0, 1]: it is a probability of relevance");
  }
  auto filter = impl_->index.relevance_filter();
  if (request.min_relevance > 0.0f && !filter) {
    throw InvalidArgument("min_relevance = " + std::to_string(request.min_relevance) +
                          " needs a relevance filter, but the collection has none: set one with "
                          "set_relevance_filter or leave min_relevance at 0");
  }
  // Evaluated once, before the index is read: a syntax error or unknown attribute is
  // reported even when the collection is empty.
  std::shared_ptr<const AllowedIds> allowed;
  if (!request.filter.empty()) allowed = impl_->attributes.select(request.filter);

  std::vector<Hit> hits;
  for (;;) {
    // Index::search refuses k above the live count; a collection answers with what it has.
    std::size_t live = impl_->index.size();
    if (live == 0) return {};
    SearchParams params;
    params.k = std::min(request.k, live);
    params.ef = ef;
    params.min_relevance = request.min_relevance;
    try {
      hits = impl_->search_once(request, params, allowed.get());
      break;
    } catch (const InvalidArgument&) {
      // Every argument was checked above, so this is a concurrent remove() that shrank
      // the index below k after it was counted: count again. Anything else is rethrown.
      if (impl_->index.size() >= params.k) throw;
    }
  }

  std::vector<CollectionHit> out;
  out.reserve(hits.size());
  for (const auto& hit : hits) {
    CollectionHit entry{hit, std::nullopt};
    if (request.with_attributes) {
      // nullopt too for an id removed since the search found it.
      auto attributes = impl_->db->read_attributes(hit.id);
      if (attributes && !attributes->empty()) entry.attributes = std::move(attributes);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

void Collection::set_relevance_filter(RelevanceFilter filter) {
  std::lock_guard guard(impl_->writer);
  impl_->check_writable();
  impl_->index.set_relevance_filter(std::move(filter));  // throws for a dimension or metric mismatch
  // The filter is saved with the index, not logged: a checkpoint makes it durable now.
  impl_->checkpoint();
}

bool Collection::clear_relevance_filter() {
  std::lock_guard guard(impl_->writer);
  impl_->check_writable();
  if (impl_->index.relevance_filter() == nullptr) return false;
  impl_->index.clear_relevance_filter();
  impl_->checkpoint();
  return true;
}

std::size_t Collection::compact() {
  std::lock_guard lock(impl_->writer);
  impl_->check_writable();
  const std::size_t deleted = impl_->index.deleted_count();
  impl_->index.compact(impl_->build_options());
  impl_->checkpoint();
  return deleted;
}

void Collection::checkpoint() {
  std::lock_guard guard(impl_->writer);
  impl_->checkpoint();
}

CollectionStats Collection::stats() const {
  CollectionStats stats;
  stats.name = impl_->db->name();
  stats.spec = impl_->db->spec();
  stats.size = impl_->index.size();
  stats.deleted = impl_->index.deleted_count();
  stats.inserted_since_learned = impl_->index.inserted_since_learned();
  stats.memory_bytes = impl_->index.memory_bytes();
  stats.last_sequence = impl_->db->last_sequence();
  stats.checkpoint_sequence = impl_->db->checkpoint_sequence().value_or(0);
  stats.log_entries = impl_->db->log_entries();
  stats.has_relevance_filter = impl_->index.relevance_filter() != nullptr;
  stats.index_recovery = impl_->recovery;
  return stats;
}

const std::string& Collection::name() const { return impl_->db->name(); }
const IndexSpec& Collection::spec() const { return impl_->db->spec(); }
const std::filesystem::path& Collection::directory() const { return impl_->directory; }

}  // namespace quiver

#include "api/collection_registry.h"

#include <algorithm>
#include <mutex>
#include <system_error>
#include <utility>

#include "api/conflict.h"
#include "quiver/error.h"

namespace quiver::api {

namespace {

namespace fs = std::filesystem;

// Dropped collections are renamed to this prefix first (atomic, under the lock) and
// deleted afterwards; a crash in between leaves one, removed at the next start-up.
// Valid names never start with '.', so it cannot clash with a collection.
constexpr std::string_view dropped_prefix = ".dropped-";

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

void CollectionRegistry::validate_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), valid_name_char)) {
    throw InvalidArgument("collection name '" + std::string(name) +
                          "' is invalid: expected 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'");
  }
}

CollectionRegistry::CollectionRegistry(fs::path data_directory, CollectionOptions options)
    : directory_(std::move(data_directory)), options_(options) {
  std::error_code error;
  fs::create_directories(directory_, error);
  if (error) {
    throw IoError("cannot create data directory '" + directory_.string() + "': " + error.message());
  }
  if (!fs::is_directory(directory_)) {
    throw IoError("data directory '" + directory_.string() + "' is not a directory");
  }

  std::vector<fs::path> entries;
  for (fs::directory_iterator it(directory_, error), end; !error && it != end; it.increment(error)) {
    entries.push_back(it->path());
  }
  if (error) throw IoError("cannot list data directory '" + directory_.string() + "': " + error.message());
  std::sort(entries.begin(), entries.end());

  for (const fs::path& entry : entries) {
    const std::string name = entry.filename().string();
    if (name.starts_with(dropped_prefix)) {
      fs::remove_all(entry, error);  // a drop interrupted by a crash; retried next time if this fails
      continue;
    }
    if (!fs::is_directory(entry)) continue;  // the operator's notes, lock files: not ours
    try {
      validate_name(name);
      collections_.emplace(name, std::make_shared<Collection>(Collection::open(entry, options_)));
    } catch (const std::exception& failure) {
      open_failures_.push_back(name + ": " + failure.what());
      reserved_.insert(name);
    }
  }
}

std::shared_ptr<Collection> CollectionRegistry::create(const std::string& name, const IndexSpec& spec,
                                                       MatrixView sample_queries) {
  validate_name(name);
  spec.validate();
  {
    const std::unique_lock lock(mutex_);
    if (collections_.contains(name)) throw Conflict("collection '" + name + "' already exists");
    if (reserved_.contains(name)) {
      throw Conflict("collection name '" + name + "' is taken (being created, or its directory in '" +
                     directory_.string() + "' failed to open at start-up)");
    }
    reserved_.insert(name);
  }
  // Released on every exit, so that a failed create leaves the name free again.
  struct Reservation {
    CollectionRegistry& registry;
    const std::string& name;
    ~Reservation() {
      const std::unique_lock lock(registry.mutex_);
      registry.reserved_.erase(name);
    }
  } reservation{*this, name};

  const fs::path path = directory_ / name;
  std::error_code error;
  if (fs::symlink_status(path, error).type() != fs::file_type::not_found) {
    // Not ours (we skip plain files at start-up): never overwrite, never delete it.
    throw Conflict("cannot create collection '" + name + "': '" + path.string() + "' already exists");
  }
  std::shared_ptr<Collection> collection;
  try {
    collection = std::make_shared<Collection>(Collection::create(path, name, spec, options_, sample_queries));
  } catch (...) {
    // Collection::create may have made the directory before failing; leaving it would
    // reserve the name for good at the next start-up.
    std::error_code ignored;
    fs::remove_all(path, ignored);
    throw;
  }
  const std::unique_lock lock(mutex_);
  collections_.emplace(name, collection);
  return collection;
}

void CollectionRegistry::drop(std::string_view name) {
  validate_name(name);
  std::shared_ptr<Collection> dropped;
  fs::path trash;
  {
    const std::unique_lock lock(mutex_);
    const auto it = collections_.find(name);
    if (it == collections_.end()) throw NotFound("collection '" + std::string(name) + "' does not exist");
    trash = directory_ / (std::string(dropped_prefix) + std::string(name) + "-" + std::to_string(++drops_));
    std::error_code error;
    fs::rename(directory_ / it->first, trash, error);
    if (error) {
      throw IoError("cannot drop collection '" + std::string(name) + "': renaming its directory failed: " +
                    error.message());
    }
    dropped = std::move(it->second);
    collections_.erase(it);
  }
  // Closed (unless a request in flight still holds it) before its files go.
  dropped.reset();
  std::error_code error;
  fs::remove_all(trash, error);
  if (error) {
    throw IoError("collection '" + std::string(name) + "' was dropped but deleting '" + trash.string() +
                  "' failed: " + error.message());
  }
}

std::shared_ptr<Collection> CollectionRegistry::lookup(std::string_view name) const {
  validate_name(name);
  const std::shared_lock lock(mutex_);
  const auto it = collections_.find(name);
  if (it == collections_.end()) throw NotFound("collection '" + std::string(name) + "' does not exist");
  return it->second;
}

std::vector<std::string> CollectionRegistry::names() const {
  const std::shared_lock lock(mutex_);
  std::vector<std::string> result;
  result.reserve(collections_.size());
  for (const auto& entry : collections_) result.push_back(entry.first);
  return result;
}

std::vector<std::pair<std::string, std::shared_ptr<Collection>>> CollectionRegistry::all() const {
  const std::shared_lock lock(mutex_);
  return {collections_.begin(), collections_.end()};
}

std::size_t CollectionRegistry::size() const {
  const std::shared_lock lock(mutex_);
  return collections_.size();
}

std::vector<std::string> CollectionRegistry::checkpoint_all() {
  std::vector<std::string> failures;
  // Outside the lock: a checkpoint rewrites a whole index, and creates/drops need not
  // wait for it.
  for (const auto& [name, collection] : all()) {
    try {
      collection->checkpoint();
    } catch (const std::exception& failure) {
      failures.push_back(name + ": " + failure.what());
    }
  }
  return failures;
}

}  // namespace quiver::api

// The named collections a server serves: one data directory, one subdirectory per
// collection (the subdirectory's name is the collection's). Sits between the Thrift
// handler and quiver::Collection; every method is safe to call from any thread.
//
// Handles are shared_ptrs, so a request that looked a collection up keeps it alive even
// when another request drops it meanwhile (its files are unlinked, not yet closed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/collection.h"
#include "quiver/index_spec.h"

namespace quiver::api {

class CollectionRegistry {
 public:
  // Creates `data_directory` if missing and opens every collection in it. A
  // subdirectory that does not open (corrupt, half-created by a crash) is not served:
  // it is listed in open_failures() and its name stays taken until an operator
  // removes or repairs it. Throws IoError when the directory cannot be made or read.
  CollectionRegistry(std::filesystem::path data_directory, CollectionOptions options);

  // Throws InvalidArgument for a bad name or spec (or sample queries it cannot take:
  // Collection::create), Conflict when the name is taken (served, being created, or a
  // directory that failed to open).
  std::shared_ptr<Collection> create(const std::string& name, const IndexSpec& spec, MatrixView sample_queries = {});
  // Stops serving the collection and deletes its directory. Throws InvalidArgument for
  // a malformed name, NotFound when no collection has that name.
  void drop(std::string_view name);
  // Throws InvalidArgument for a malformed name, NotFound when none has that name.
  std::shared_ptr<Collection> lookup(std::string_view name) const;

  std::vector<std::string> names() const;  // sorted
  std::vector<std::pair<std::string, std::shared_ptr<Collection>>> all() const;
  std::size_t size() const;

  // Checkpoints every collection (at shutdown, so that the next start-up replays no
  // log). Returns one message per collection that failed; the others are still done.
  std::vector<std::string> checkpoint_all();

  // "<subdirectory>: <why>" for each subdirectory that did not open at start-up.
  const std::vector<std::string>& open_failures() const { return open_failures_; }
  const std::filesystem::path& directory() const { return directory_; }

  // [A-Za-z0-9_-]{1,64}: safe as a directory name on every file system, and never
  // "." or ".." or a hidden name. Throws InvalidArgument naming the bad name.
  static void validate_name(std::string_view name);

 private:
  std::filesystem::path directory_;
  CollectionOptions options_;
  std::vector<std::string> open_failures_;

  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> collections_;
  // Names being created (outside the lock, since creating syncs files) or left
  // unusable at start-up: taken, but not served.
  std::set<std::string, std::less<>> reserved_;
  std::uint64_t drops_ = 0;  // makes each dropped directory's temporary name unique
};

}  // namespace quiver::api

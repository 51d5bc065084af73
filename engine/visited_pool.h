// Reusable "visited" marks for graph searches. Each search leases a table of epoch
// tags, so clearing costs nothing per search; tables go back to a pool instead of
// living on threads, so any number of threads may search without reserving slots.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace quiver::engine {

class VisitedPool {
  struct Table {
    std::vector<std::uint16_t> marks;
    std::uint16_t epoch = 0;
  };

 public:
  class Lease {
   public:
    Lease(VisitedPool& pool, std::unique_ptr<Table> table) : pool_(&pool), table_(std::move(table)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (table_) pool_->release(std::move(table_));
    }

    // Marks `id` visited; returns whether it was new.
    bool visit(std::uint32_t id) {
      auto& mark = table_->marks[id];
      if (mark == table_->epoch) return false;
      mark = table_->epoch;
      return true;
    }
    bool visited(std::uint32_t id) const { return table_->marks[id] == table_->epoch; }
    const void* address(std::uint32_t id) const { return &table_->marks[id]; }

   private:
    VisitedPool* pool_;
    std::unique_ptr<Table> table_;
  };

  // A table with room for ids [0, capacity), all unvisited.
  Lease acquire(std::size_t capacity) {
    std::unique_ptr<Table> table;
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        table = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!table) table = std::make_unique<Table>();
    if (table->marks.size() < capacity) {
      table->marks.assign(capacity, 0);
      table->epoch = 0;
    }
    if (++table->epoch == 0) {  // the 16-bit epoch wrapped: old marks could alias
      std::fill(table->marks.begin(), table->marks.end(), 0);
      table->epoch = 1;
    }
    return Lease(*this, std::move(table));
  }

  std::size_t memory_bytes() const {
    std::lock_guard lock(mutex_);
    std::size_t bytes = 0;
    for (const auto& table : free_) bytes += table->marks.capacity() * sizeof(std::uint16_t);
    return bytes;
  }

 private:
  void release(std::unique_ptr<Table> table) {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(table));
  }

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Table>> free_;
};

}  // namespace quiver::engine

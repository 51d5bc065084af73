#include "engine/hnsw_file_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "quiver/error.h"

namespace quiver::engine {

namespace {

// A read-only memory map of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError("cannot open '" + path.string() + "': " + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      ::close(fd);
      throw IoError("cannot stat '" + path.string() + "': " + std::strerror(errno));
    }
    size_ = static_cast<std::size_t>(info.st_size);
    if (size_ > 0) {
      void* address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (address == MAP_FAILED) {
        ::close(fd);
        throw IoError("cannot map '" + path.string() + "': " + std::strerror(errno));
      }
      data_ = static_cast<const unsigned char*>(address);
    }
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

class Checker {
 public:
  Checker(const std::filesystem::path& path, const MappedFile& file) : path_(path), file_(file) {}

  template <typename T>
  T read(std::size_t offset, const char* what) const {
    require(offset, sizeof(T), what);
    T value;
    std::memcpy(&value, file_.data() + offset, sizeof(T));
    return value;
  }

  void require(std::size_t offset, std::size_t bytes, const char* what) const {
    if (offset > file_.size() || bytes > file_.size() - offset) {
      fail(offset, std::string("truncated: ") + what + " needs " + std::to_string(bytes) + " bytes but the file has " +
                       std::to_string(offset > file_.size() ? 0 : file_.size() - offset) + " left");
    }
  }

  [[noreturn]] void fail(std::size_t offset, const std::string& message) const {
    throw CorruptFile(path_.string() + ": at byte " + std::to_string(offset) + ": " + message);
  }

  void expect_equal(std::size_t offset, std::size_t actual, std::size_t expected, const char* field) const {
    if (actual != expected) {
      fail(offset, std::string(field) + " is " + std::to_string(actual) + ", expected " + std::to_string(expected));
    }
  }

  // A neighbour list: a count in the low 16 bits, then `capacity` 32-bit ids.
  void check_links(std::size_t offset, std::size_t capacity, std::size_t elements, const char* layer) const {
    auto header = read<std::uint32_t>(offset, "neighbour count");
    std::size_t count = header & 0xFFFFu;
    if (count > capacity) {
      fail(offset, std::string(layer) + " list holds " + std::to_string(count) + " neighbours, more than its " +
                       std::to_string(capacity) + " slots");
    }
    require(offset + 4, capacity * 4, "neighbour ids");
    for (std::size_t j = 0; j < count; ++j) {
      std::uint32_t id;
      std::memcpy(&id, file_.data() + offset + 4 + 4 * j, 4);
      if (id >= elements) {
        fail(offset + 4 + 4 * j, std::string(layer) + " neighbour id " + std::to_string(id) +
                                     " is out of range: the graph has " + std::to_string(elements) + " elements");
      }
    }
  }

 private:
  const std::filesystem::path& path_;
  const MappedFile& file_;
};

}  // namespace

HnswFileSummary check_hnsw_file(const std::filesystem::path& path, const HnswFileExpectation& expected) {
  MappedFile file(path);
  Checker check(path, file);

  // Header fields in saveIndex order (size_t unless noted).
  const std::size_t level0_links_bytes = expected.M * 2 * 4 + 4;
  const std::size_t upper_links_bytes = expected.M * 4 + 4;
  const std::size_t element_bytes = level0_links_bytes + expected.bytes_per_vector + 8;

  check.expect_equal(0, check.read<std::size_t>(0, "header"), 0, "level-0 offset");
  auto max_elements = check.read<std::size_t>(8, "header");
  auto elements = check.read<std::size_t>(16, "header");
  check.expect_equal(16, elements, expected.elements, "element count");
  if (max_elements < elements) check.fail(8, "capacity is smaller than the element count");
  check.expect_equal(24, check.read<std::size_t>(24, "header"), element_bytes, "bytes per element");
  check.expect_equal(32, check.read<std::size_t>(32, "header"), level0_links_bytes + expected.bytes_per_vector,
                     "label offset");
  check.expect_equal(40, check.read<std::size_t>(40, "header"), level0_links_bytes, "data offset");
  auto max_level = check.read<std::int32_t>(48, "header");
  auto entry_point = check.read<std::uint32_t>(52, "header");
  check.expect_equal(56, check.read<std::size_t>(56, "header"), expected.M, "maxM");
  check.expect_equal(64, check.read<std::size_t>(64, "header"), expected.M * 2, "maxM0");
  check.expect_equal(72, check.read<std::size_t>(72, "header"), expected.M, "M");
  // hnswlib draws each added element's level as -ln(u) * mult and casts it to int; a
  // crafted multiplier (1e300) would overflow that cast on the first add after loading.
  // hnswlib writes 1 / ln(M); an attention graph that took additions writes 0.
  auto mult = check.read<double>(80, "header");
  const double expected_mult = 1.0 / std::log(static_cast<double>(expected.M));
  if (!(std::abs(mult - expected_mult) <= 1e-9 * expected_mult) && !(expected.one_layer && mult == 0.0)) {
    check.fail(80, "level multiplier " + std::to_string(mult) + " is not 1 / ln(M) = " + std::to_string(expected_mult));
  }
  check.read<std::size_t>(88, "header");  // ef_construction: any value is usable
  const std::size_t header_bytes = 96;

  if (elements == 0) check.fail(16, "an empty graph is never saved");
  if (max_level < 0 || max_level > 64) check.fail(48, "top level " + std::to_string(max_level) + " is out of range");
  if (entry_point >= elements) check.fail(52, "entry point " + std::to_string(entry_point) + " is out of range");

  // Base layer: links, vector, label per element. The product saturates: a crafted
  // element count must fail here, not wrap to a small size that passes.
  std::size_t base_bytes = 0;
  if (__builtin_mul_overflow(elements, element_bytes, &base_bytes)) base_bytes = SIZE_MAX;
  check.require(header_bytes, base_bytes, "base layer");
  HnswFileSummary summary;
  std::unordered_set<std::uint64_t> labels;
  labels.reserve(elements);
  for (std::size_t i = 0; i < elements; ++i) {
    std::size_t offset = header_bytes + i * element_bytes;
    check.check_links(offset, expected.M * 2, elements, "base-layer");
    if (file.data()[offset + 2] & 0x01) ++summary.deleted;
    auto label = check.read<std::uint64_t>(offset + level0_links_bytes + expected.bytes_per_vector, "label");
    if (!labels.insert(label).second) {
      check.fail(offset + level0_links_bytes + expected.bytes_per_vector,
                 "id " + std::to_string(label) + " appears twice");
    }
  }

  // Upper layers: a byte count per element, then that many bytes of lists. A first
  // pass learns every element's level, so that the second can reject a link into a
  // level its target does not have (hnswlib would follow it into a null list).
  std::vector<int> levels(elements);
  std::vector<std::size_t> list_offsets(elements);
  std::size_t offset = header_bytes + elements * element_bytes;
  int highest = 0;
  for (std::size_t i = 0; i < elements; ++i) {
    auto bytes = check.read<std::uint32_t>(offset, "upper-layer size");
    if (bytes % upper_links_bytes != 0) check.fail(offset, "upper-layer size is not a whole number of lists");
    levels[i] = static_cast<int>(bytes / upper_links_bytes);
    if (levels[i] > max_level) {
      check.fail(offset, "element " + std::to_string(i) + " has " + std::to_string(levels[i]) +
                             " upper layers, above the top level " + std::to_string(max_level));
    }
    highest = std::max(highest, levels[i]);
    list_offsets[i] = offset + 4;
    check.require(offset + 4, bytes, "upper-layer lists");
    offset += 4 + bytes;
  }
  if (offset != file.size()) check.fail(offset, "unexpected trailing bytes");
  if (highest != max_level) check.fail(48, "top level disagrees with the elements' levels");
  if (levels[entry_point] != max_level) check.fail(52, "entry point is not on the top level");
  for (std::size_t i = 0; i < elements; ++i) {
    for (int level = 1; level <= levels[i]; ++level) {
      std::size_t list = list_offsets[i] + (level - 1) * upper_links_bytes;
      check.check_links(list, expected.M, elements, "upper-layer");
      std::size_t count = check.read<std::uint32_t>(list, "neighbour count") & 0xFFFFu;
      for (std::size_t j = 0; j < count; ++j) {
        auto target = check.read<std::uint32_t>(list + 4 + 4 * j, "neighbour id");
        if (levels[target] < level) {
          check.fail(list + 4 + 4 * j, "link on level " + std::to_string(level) + " to element " +
                                           std::to_string(target) + ", which only reaches level " +
                                           std::to_string(levels[target]));
        }
      }
    }
  }
  return summary;
}

}  // namespace quiver::engine

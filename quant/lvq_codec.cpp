#include "quant/lvq_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <istream>
#include <limits>
#include <ostream>
#include <thread>

#include "quant/distance.h"
#include "quant/float16.h"
#include "quant/lvq_kernels.h"
#include "quiver/error.h"

namespace quiver::quant {

namespace {

constexpr std::uint16_t kHalfOne = 0x3c00;
constexpr std::uint16_t kHalfMax = 0x7bff;  // 65504
constexpr double kHalfMaxValue = 65504.0;

// The float16 next to h towards +inf / -inf; h is finite.
std::uint16_t half_up(std::uint16_t h) {
  if (h == 0x8000) return 0x0001;  // -0 -> least positive subnormal
  return static_cast<std::uint16_t>((h & 0x8000) != 0 ? h - 1 : h + 1);
}
std::uint16_t half_down(std::uint16_t h) {
  if (h == 0x0000) return 0x8001;
  return static_cast<std::uint16_t>((h & 0x8000) != 0 ? h + 1 : h - 1);
}

// The largest float16 <= v (-inf below the float16 range), and the least float16 >= v
// (+inf above it). Rounding the bias down and the step up, rather than to nearest,
// keeps every code in range without clamping, so the error never exceeds step / 2.
// float_to_half gives one of the two neighbours of v; the comparison picks the right one.
std::uint16_t half_at_most(double v) {
  if (v >= kHalfMaxValue) return kHalfMax;
  const std::uint16_t h = float_to_half(static_cast<float>(v));
  return half_to_float(h) > v ? half_down(h) : h;
}
std::uint16_t half_at_least(double v) {
  const std::uint16_t h = float_to_half(static_cast<float>(v));
  return half_to_float(h) < v ? half_up(h) : h;
}

unsigned levels(unsigned bits) { return (1u << bits) - 1u; }

void check_shape(std::size_t dim, LvqConfig config) {
  if (dim == 0 || dim > LvqCodec::kMaxDim) {
    throw InvalidArgument("LVQ dimension " + std::to_string(dim) + " is out of range; expected 1 to " +
                          std::to_string(LvqCodec::kMaxDim));
  }
  if (config.bits != 4 && config.bits != 8) {
    throw InvalidArgument("LVQ bits " + std::to_string(config.bits) + " is not supported; expected 4 or 8");
  }
  if (config.residual_bits != 0 && config.residual_bits != 4 && config.residual_bits != 8) {
    throw InvalidArgument("LVQ residual bits " + std::to_string(config.residual_bits) +
                          " is not supported; expected 0, 4 or 8");
  }
}

std::size_t padded_dim(std::size_t dim) {
  return (dim + LvqCodec::kPadDims - 1) / LvqCodec::kPadDims * LvqCodec::kPadDims;
}

// --- serialisation: little-endian fields, FNV-1a over everything before the checksum.

constexpr char kMagic[8] = {'Q', 'V', 'R', 'L', 'V', 'Q', 'C', '\0'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = sizeof kMagic + 4 * sizeof(std::uint32_t);

std::uint64_t fnv1a(const std::byte* data, std::size_t size, std::uint64_t hash = 0xcbf29ce484222325ull) {
  for (std::size_t i = 0; i < size; ++i) {
    hash = (hash ^ std::to_integer<std::uint64_t>(data[i])) * 0x100000001b3ull;
  }
  return hash;
}

void put_le(std::vector<std::byte>& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>(value >> (8 * i)));
}

std::uint64_t get_le(const std::byte* in, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value |= std::to_integer<std::uint64_t>(in[i]) << (8 * i);
  return value;
}

// Reads exactly `size` bytes or throws CorruptFile saying what was cut short.
void read_exactly(std::istream& in, std::byte* data, std::size_t size, const std::string& source,
                  const char* what) {
  in.read(reinterpret_cast<char*>(data), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size) {
    throw CorruptFile(source + ": LVQ codec truncated in its " + what + " (" + std::to_string(in.gcount()) +
                      " of " + std::to_string(size) + " bytes)");
  }
}

}  // namespace

LvqCodec::LvqCodec(std::size_t dim, LvqConfig config, std::vector<float> mean) : dim_(dim), config_(config) {
  check_shape(dim, config);
  if (mean.size() != dim) {
    throw InvalidArgument("LVQ mean has " + std::to_string(mean.size()) +
                          " components; expected the dimension " + std::to_string(dim));
  }
  for (std::size_t j = 0; j < dim; ++j) {
    if (!std::isfinite(mean[j])) {
      throw InvalidArgument("LVQ mean[" + std::to_string(j) + "] is " + std::to_string(mean[j]) +
                            "; expected a finite value");
    }
  }
  mean.resize(padded_dim(dim), 0.0f);
  mean_ = std::move(mean);
  primary_bytes_ = lvq_padded(lvq_packed_bytes(dim, config.bits) + kLvqConstantsBytes);
  residual_bytes_ = config.residual_bits == 0 ? 0 : lvq_padded(lvq_packed_bytes(dim, config.residual_bits));
  select_kernels(kernels().isa);
}

LvqCodec LvqCodec::train(const float* rows, std::size_t count, std::size_t dim, LvqConfig config) {
  check_shape(dim, config);
  if (count == 0) throw InvalidArgument("LVQ training needs at least one row; got 0");
  if (rows == nullptr)
    throw InvalidArgument("LVQ training rows are null; expected " + std::to_string(count) + " rows");
  // Per-block sums added into the total: rounding error grows with the number of blocks
  // plus the block size rather than with the row count.
  constexpr std::size_t kBlockRows = 1024;
  std::vector<double> total(dim, 0.0);
  std::vector<double> block(dim);
  for (std::size_t start = 0; start < count; start += kBlockRows) {
    std::fill(block.begin(), block.end(), 0.0);
    const std::size_t end = std::min(count, start + kBlockRows);
    for (std::size_t i = start; i < end; ++i) {
      const float* row = rows + i * dim;
      for (std::size_t j = 0; j < dim; ++j) block[j] += row[j];
    }
    for (std::size_t j = 0; j < dim; ++j) total[j] += block[j];
  }
  std::vector<float> mean(dim);
  for (std::size_t j = 0; j < dim; ++j) mean[j] = static_cast<float>(total[j] / static_cast<double>(count));
  return LvqCodec(dim, config, std::move(mean));
}

void LvqCodec::select_kernels(std::string_view isa) {
  const LvqKernels& table = lvq_kernels_for_isa(isa);
  isa_ = table.isa;
  const std::size_t slot = lvq_slot(config_.bits);
  const std::size_t residual_slot = lvq_slot(config_.residual_bits);
  for (Kind kind : {Kind::L2, Kind::InnerProduct}) {
    const std::size_t k = index(kind);
    first_level_[k] = table.one_level[slot][k];
    two_level_[k] = table.two_level[slot][residual_slot][k];
    symmetric_[k] = table.symmetric[slot][k];
  }
}

LvqCodec LvqCodec::with_isa(std::string_view isa) const {
  LvqCodec copy = *this;
  copy.select_kernels(isa);
  return copy;
}

void LvqCodec::encode(std::span<const float> x, std::byte* primary, std::byte* residual) const {
  std::vector<float> centred(dim_);
  encode_with(x, centred, primary, residual);
}

void LvqCodec::encode_with(std::span<const float> x, std::span<float> centred, std::byte* primary,
                           std::byte* residual) const {
  if (x.size() != dim_) {
    throw InvalidArgument("LVQ encode: vector has " + std::to_string(x.size()) + " components; expected " +
                          std::to_string(dim_));
  }
  if (residual != nullptr && config_.residual_bits == 0) {
    throw InvalidArgument("LVQ encode: a residual buffer was given but the codec has no second level");
  }
  float low = std::numeric_limits<float>::infinity();
  float high = -low;
  for (std::size_t j = 0; j < dim_; ++j) {
    centred[j] = x[j] - mean_[j];
    if (!std::isfinite(centred[j])) {
      throw InvalidArgument("LVQ encode: component " + std::to_string(j) + " is " + std::to_string(x[j]) +
                            " (minus the mean: " + std::to_string(centred[j]) + "); expected a finite value");
    }
    low = std::min(low, centred[j]);
    high = std::max(high, centred[j]);
  }

  const unsigned top = levels(config_.bits);
  const std::uint16_t bias_bits = half_at_most(low);
  const float bias = half_to_float(bias_bits);
  const double needed = (static_cast<double>(high) - bias) / top;
  const std::uint16_t step_bits = needed == 0.0 ? kHalfOne : half_at_least(needed);
  const float step = half_to_float(step_bits);
  if (!std::isfinite(bias) || !std::isfinite(step)) {
    throw InvalidArgument("LVQ encode: components minus the mean span [" + std::to_string(low) + ", " +
                          std::to_string(high) + "]; float16 constants need a minimum >= -65504 and a " +
                          "range <= " + std::to_string(65504.0 * top));
  }

  std::fill_n(primary, primary_bytes_, std::byte{0});
  for (std::size_t j = 0; j < dim_; ++j) {
    const double t = std::round((centred[j] - static_cast<double>(bias)) / step);
    lvq_set_code(primary, j, config_.bits,
                 static_cast<unsigned>(std::clamp(t, 0.0, static_cast<double>(top))));
  }
  lvq_write_affine(primary, lvq_packed_bytes(dim_, config_.bits), step_bits, bias_bits);

  if (residual == nullptr) return;
  // Nearest point of the two-level grid within the level-1 cell: an integer in
  // [0, 2^B2 - 1] steps of step / (2^B2 - 1) from the cell's lower edge.
  const unsigned residual_top = levels(config_.residual_bits);
  const LvqAffine two = lvq_two_level_affine({step, bias}, config_.residual_bits);
  std::fill_n(residual, residual_bytes_, std::byte{0});
  for (std::size_t j = 0; j < dim_; ++j) {
    const double cell = static_cast<double>(residual_top) * lvq_get_code(primary, j, config_.bits);
    const double t = std::round((centred[j] - static_cast<double>(two.bias)) / two.step - cell);
    lvq_set_code(residual, j, config_.residual_bits,
                 static_cast<unsigned>(std::clamp(t, 0.0, static_cast<double>(residual_top))));
  }
}

void LvqCodec::encode_batch(const float* rows, std::size_t count, std::byte* primaries, std::byte* residuals,
                            std::size_t threads) const {
  if (count == 0) return;
  // Rows cost the same to encode, so equal contiguous ranges balance; a thread for
  // fewer rows than this costs more to start than it saves.
  constexpr std::size_t kMinRowsPerThread = 256;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::clamp<std::size_t>(count / kMinRowsPerThread, 1, threads);

  std::vector<std::exception_ptr> errors(threads);
  const auto run = [&](std::size_t t) {
    try {
      std::vector<float> centred(dim_);
      for (std::size_t i = count * t / threads; i < count * (t + 1) / threads; ++i) {
        encode_with({rows + i * dim_, dim_}, centred, primaries + i * primary_bytes_,
                    residuals == nullptr ? nullptr : residuals + i * residual_bytes_);
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> workers;
    workers.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) workers.emplace_back(run, t);
    run(0);
  }
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);  // the first failing row's range
  }
}

void LvqCodec::decode(const std::byte* primary, const std::byte* residual, std::span<float> out) const {
  if (out.size() != dim_) {
    throw InvalidArgument("LVQ decode: output has " + std::to_string(out.size()) + " components; expected " +
                          std::to_string(dim_));
  }
  if (residual != nullptr && config_.residual_bits == 0) {
    throw InvalidArgument("LVQ decode: a residual was given but the codec has no second level");
  }
  const LvqAffine first = lvq_read_affine(primary, lvq_packed_bytes(dim_, config_.bits));
  if (residual == nullptr) {
    for (std::size_t j = 0; j < dim_; ++j) {
      out[j] =
          first.step * static_cast<float>(lvq_get_code(primary, j, config_.bits)) + first.bias + mean_[j];
    }
    return;
  }
  const LvqAffine two = lvq_two_level_affine(first, config_.residual_bits);
  const unsigned residual_top = levels(config_.residual_bits);
  for (std::size_t j = 0; j < dim_; ++j) {
    const unsigned combined = residual_top * lvq_get_code(primary, j, config_.bits) +
                              lvq_get_code(residual, j, config_.residual_bits);
    out[j] = two.step * static_cast<float>(combined) + two.bias + mean_[j];
  }
}

LvqCodec::Query LvqCodec::prepare(std::span<const float> q, Kind kind) const {
  if (q.size() != dim_) {
    throw InvalidArgument("LVQ query has " + std::to_string(q.size()) + " components; expected " +
                          std::to_string(dim_));
  }
  std::vector<float> values(padded_dim(dim_), 0.0f);
  switch (kind) {
    case Kind::L2:
      for (std::size_t j = 0; j < dim_; ++j) values[j] = q[j] - mean_[j];
      return Query(kind, dim_, std::move(values), 0.0f, 0.0f);
    case Kind::InnerProduct: {
      double sum = 0.0;
      double offset = 0.0;
      for (std::size_t j = 0; j < dim_; ++j) {
        values[j] = q[j];
        sum += q[j];
        offset += static_cast<double>(q[j]) * mean_[j];
      }
      return Query(kind, dim_, std::move(values), static_cast<float>(sum), static_cast<float>(offset));
    }
  }
  throw InvalidArgument("LVQ query kind " + std::to_string(static_cast<int>(kind)) +
                        " is unknown; expected L2 or InnerProduct");
}

void LvqCodec::save(std::ostream& out) const {
  std::vector<std::byte> bytes;
  bytes.reserve(kHeaderBytes + 4 * dim_ + 8);
  for (char c : kMagic) bytes.push_back(static_cast<std::byte>(c));
  for (std::uint32_t field :
       {kVersion, static_cast<std::uint32_t>(dim_), config_.bits, config_.residual_bits}) {
    put_le(bytes, field, 4);
  }
  for (std::size_t j = 0; j < dim_; ++j) put_le(bytes, std::bit_cast<std::uint32_t>(mean_[j]), 4);
  put_le(bytes, fnv1a(bytes.data(), bytes.size()), 8);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw IoError("LVQ codec: writing " + std::to_string(bytes.size()) + " bytes failed");
}

LvqCodec LvqCodec::load(std::istream& in, const std::string& source_name) {
  const auto corrupt = [&](const std::string& what) {
    return CorruptFile(source_name + ": LVQ codec " + what);
  };

  std::byte header[kHeaderBytes];
  read_exactly(in, header, sizeof header, source_name, "header");
  if (!std::equal(std::begin(kMagic), std::end(kMagic), header,
                  [](char c, std::byte b) { return static_cast<std::byte>(c) == b; })) {
    throw corrupt("has a bad magic number; this is not an LVQ codec");
  }
  const auto field = [&](std::size_t i) { return get_le(header + sizeof kMagic + 4 * i, 4); };
  const std::uint64_t version = field(0);
  const std::uint64_t dim = field(1);
  LvqConfig config;
  config.bits = static_cast<unsigned>(field(2));
  config.residual_bits = static_cast<unsigned>(field(3));
  if (version > kVersion) {
    throw IncompatibleVersion(source_name + ": LVQ codec format version " + std::to_string(version) +
                              " is newer than this build reads (" + std::to_string(kVersion) + ")");
  }
  if (version == 0) throw corrupt("has format version 0; expected 1");
  // Before any allocation sized by the file.
  if (dim == 0 || dim > kMaxDim) {
    throw corrupt("has dimension " + std::to_string(dim) + "; expected 1 to " + std::to_string(kMaxDim));
  }
  if (config.bits != 4 && config.bits != 8) {
    throw corrupt("has " + std::to_string(config.bits) + " bits; expected 4 or 8");
  }
  if (config.residual_bits != 0 && config.residual_bits != 4 && config.residual_bits != 8) {
    throw corrupt("has " + std::to_string(config.residual_bits) + " residual bits; expected 0, 4 or 8");
  }

  std::vector<std::byte> payload(4 * dim + 8);
  read_exactly(in, payload.data(), payload.size(), source_name, "mean and checksum");
  const std::uint64_t expected = fnv1a(payload.data(), 4 * dim, fnv1a(header, sizeof header));
  if (get_le(payload.data() + 4 * dim, 8) != expected) throw corrupt("fails its checksum");
  std::vector<float> mean(dim);
  for (std::size_t j = 0; j < dim; ++j) {
    mean[j] = std::bit_cast<float>(static_cast<std::uint32_t>(get_le(payload.data() + 4 * j, 4)));
    if (!std::isfinite(mean[j])) throw corrupt("has a non-finite mean[" + std::to_string(j) + "]");
  }
  return LvqCodec(dim, config, std::move(mean));
}

}  // namespace quiver::quant

#include "engine/vector_encoder.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "quant/float16.h"
#include "quant/pq_codes.h"
#include "quiver/error.h"

namespace quiver::engine {

namespace {

constexpr char encoder_magic[8] = {'Q', 'V', 'E', 'N', 'C', 'O', 'D', '1'};
constexpr std::size_t training_sample = 100000;  // rows: enough for stable means and second moments

quant::LvqConfig lvq_config(Encoding encoding) {
  switch (encoding) {
    case Encoding::Lvq8: return {8, 0};
    case Encoding::Lvq4: return {4, 0};
    case Encoding::Lvq4x8: return {4, 8};
    default: return {};
  }
}

bool is_lvq(Encoding encoding) {
  return encoding == Encoding::Lvq8 || encoding == Encoding::Lvq4 || encoding == Encoding::Lvq4x8;
}

// Up to `limit` rows of `data`, evenly spread, normalised when the metric is cosine.
Matrix training_rows(MatrixView data, std::size_t limit, bool normalise) {
  std::size_t rows = std::min(limit, data.rows);
  Matrix sample(rows, data.cols);
  for (std::size_t i = 0; i < rows; ++i) {
    auto source = data.row(rows == data.rows ? i : i * data.rows / rows);
    std::copy(source.begin(), source.end(), sample.row(i).begin());
    if (normalise) quant::normalize(sample.row(i));
  }
  return sample;
}

// The spec an encoder is first constructed with before its trained parts are set:
// without the parts the constructor refuses to leave untrained.
IndexSpec untrained_spec(IndexSpec spec) {
  spec.reduction = Reduction::None;
  if (spec.primary == Encoding::Qavq) {
    spec.primary = Encoding::F32;
    spec.pq_overlapping = false;
  }
  return spec;
}

}  // namespace

VectorEncoder::VectorEncoder(const IndexSpec& spec) : spec_(spec), kernels_(&quant::kernels()) {
  spec_.validate();
  if (spec_.reduction != Reduction::None) {
    throw InvalidArgument("spec '" + spec_.to_string() +
                          "' reduces dimensions with LeanVec, which is learned from data: build the index from "
                          "vectors instead of creating it empty");
  }
  if (spec_.primary == Encoding::Qavq) {
    throw InvalidArgument("spec '" + spec_.to_string() +
                          "' quantizes with codebooks learned from data (and sample queries): build the index "
                          "from vectors instead of creating it empty");
  }
  if (is_lvq(spec_.primary)) {
    primary_lvq_.emplace(spec_.dim, lvq_config(spec_.primary), std::vector<float>(spec_.dim, 0.0f));
  }
  if (spec_.rerank == Rerank::Lvq8) {
    secondary_lvq_.emplace(spec_.dim, quant::LvqConfig{8, 0}, std::vector<float>(spec_.dim, 0.0f));
  }
  size_codes();
}

VectorEncoder VectorEncoder::train(const IndexSpec& spec, MatrixView data, MatrixView sample_queries,
                                   std::size_t threads) {
  spec.validate();
  if (spec.reduction == Reduction::None && !is_lvq(spec.primary) && spec.rerank != Rerank::Lvq8 &&
      spec.primary != Encoding::Qavq) {
    return VectorEncoder(spec);
  }
  if (data.rows == 0) throw InvalidArgument("spec '" + spec.to_string() + "' needs vectors to learn from");
  bool cosine = spec.metric == Metric::Cosine;
  Matrix sample = training_rows(data, training_sample, cosine);

  VectorEncoder encoder(untrained_spec(spec));
  encoder.spec_ = spec;

  Matrix primary_sample;
  if (spec.reduction != Reduction::None) {
    if (spec.rerank == Rerank::None) {
      throw InvalidArgument("spec '" + spec.to_string() +
                            "': LeanVec needs a full-dimension re-rank encoding (rerank=f32, f16 or lvq8)");
    }
    quant::LeanVecOptions options;
    options.target_dim = spec.reduced_dim;
    options.centre_queries = spec.metric == Metric::L2;
    options.threads = threads;
    Matrix queries;
    if (spec.reduction == Reduction::LeanVecOod) {
      if (spec.metric == Metric::L2) {
        throw InvalidArgument("leanvec-ood learns inner products: use it with the ip or cosine metric, or use "
                              "leanvec<d> for l2");
      }
      if (sample_queries.rows == 0) {
        throw InvalidArgument("leanvec-ood needs sample queries from the query distribution (--sample-queries)");
      }
      if (sample_queries.cols != spec.dim) {
        throw InvalidArgument("sample queries have " + std::to_string(sample_queries.cols) +
                              " dimensions but the index expects " + std::to_string(spec.dim));
      }
      options.kind = quant::LeanVecKind::OutOfDistribution;
      queries = training_rows(sample_queries, training_sample, cosine);
    }
    encoder.leanvec_ = quant::LeanVec::train({sample.values.data(), sample.rows, sample.cols},
                                             {queries.values.data(), queries.rows, spec.dim}, options);
    primary_sample = Matrix(sample.rows, spec.reduced_dim);
    encoder.leanvec_->project_data_batch(sample.values.data(), sample.rows, primary_sample.values.data(), threads);
  }
  const Matrix& lvq_input = spec.reduction != Reduction::None ? primary_sample : sample;
  if (is_lvq(spec.primary)) {
    encoder.primary_lvq_ = quant::LvqCodec::train(lvq_input.values.data(), lvq_input.rows, lvq_input.cols,
                                                  lvq_config(spec.primary));
  }
  if (spec.rerank == Rerank::Lvq8) {
    encoder.secondary_lvq_ = quant::LvqCodec::train(sample.values.data(), sample.rows, sample.cols, {8, 0});
  }
  if (spec.primary == Encoding::Qavq) {
    // Plain PQ without sample queries; query-aware with them.
    Matrix queries;
    if (sample_queries.rows > 0) {
      if (sample_queries.cols != spec.dim) {
        throw InvalidArgument("sample queries have " + std::to_string(sample_queries.cols) +
                              " dimensions but the index expects " + std::to_string(spec.dim));
      }
      queries = training_rows(sample_queries, training_sample, cosine);
    }
    quant::QueryAwarePqOptions options;
    options.sub_spaces = spec.pq_sub_spaces;
    options.bits = spec.pq_bits;
    options.overlapping = spec.pq_overlapping;
    options.threads = threads;
    encoder.pq_ = quant::QueryAwarePq::train(sample, {queries.values.data(), queries.rows, spec.dim}, options);
  }
  encoder.size_codes();
  return encoder;
}

void VectorEncoder::size_codes() {
  std::size_t primary_dim = spec_.primary_dim();
  switch (spec_.primary) {
    case Encoding::F32: primary_bytes_ = primary_dim * sizeof(float); break;
    case Encoding::F16: primary_bytes_ = primary_dim * sizeof(std::uint16_t); break;
    case Encoding::Qavq:
      // Padded to 4 bytes: hnswlib lays each node's codes between its link lists, which
      // must stay aligned for their 32-bit counts.
      primary_bytes_ = (pq_code_bytes() + 3) / 4 * 4;
      break;
    default: primary_bytes_ = primary_lvq_->primary_bytes(); break;
  }
  switch (spec_.rerank) {
    case Rerank::F32: secondary_bytes_ = spec_.dim * sizeof(float); break;
    case Rerank::F16: secondary_bytes_ = spec_.dim * sizeof(std::uint16_t); break;
    case Rerank::Lvq8: secondary_bytes_ = secondary_lvq_->primary_bytes(); break;
    case Rerank::None:
      // LVQ-4x8 re-ranks with its own residual level.
      secondary_bytes_ = spec_.primary == Encoding::Lvq4x8 ? primary_lvq_->residual_bytes() : 0;
      break;
  }
}

void VectorEncoder::encode(std::span<const float> x, std::byte* primary, std::byte* secondary) const {
  std::vector<float> normalised;
  if (spec_.metric == Metric::Cosine) {
    normalised.assign(x.begin(), x.end());
    quant::normalize(normalised);
    x = normalised;
  }
  std::vector<float> reduced;
  std::span<const float> primary_input = x;
  if (leanvec_) {
    reduced.resize(spec_.reduced_dim);
    leanvec_->project_data(x, reduced);
    primary_input = reduced;
  }
  switch (spec_.primary) {
    case Encoding::F32:
      std::memcpy(primary, primary_input.data(), primary_bytes_);
      break;
    case Encoding::F16:
      quant::floats_to_halves(primary_input, {reinterpret_cast<std::uint16_t*>(primary), primary_input.size()});
      break;
    case Encoding::Qavq: {
      auto codes = pq_->encode({primary_input.data(), 1, primary_input.size()}, 1);
      auto* packed = reinterpret_cast<std::uint8_t*>(primary);
      std::fill(packed, packed + primary_bytes_, std::uint8_t{0});
      if (codes.bits() == 8) {
        std::memcpy(primary, codes.row(0), pq_code_bytes());
      } else {
        for (std::size_t m = 0; m < codes.sub_spaces(); ++m) {
          packed[m / 2] = static_cast<std::uint8_t>(packed[m / 2] | codes.get(0, m) << (4 * (m % 2)));
        }
      }
      break;
    }
    default: {
      bool residual = spec_.rerank == Rerank::None && spec_.primary == Encoding::Lvq4x8;
      primary_lvq_->encode(primary_input, primary, residual ? secondary : nullptr);
      break;
    }
  }
  switch (spec_.rerank) {
    case Rerank::F32: std::memcpy(secondary, x.data(), secondary_bytes_); break;
    case Rerank::F16: quant::floats_to_halves(x, {reinterpret_cast<std::uint16_t*>(secondary), x.size()}); break;
    case Rerank::Lvq8: secondary_lvq_->encode(x, secondary, nullptr); break;
    case Rerank::None: break;
  }
}

void VectorEncoder::reconstruct(const std::byte* primary, const std::byte* secondary, std::span<float> out) const {
  switch (spec_.rerank) {
    case Rerank::F32: std::memcpy(out.data(), secondary, secondary_bytes_); return;
    case Rerank::F16:
      quant::halves_to_floats({reinterpret_cast<const std::uint16_t*>(secondary), out.size()}, out);
      return;
    case Rerank::Lvq8: secondary_lvq_->decode(secondary, nullptr, out); return;
    case Rerank::None: break;
  }
  // Without a secondary copy there is no reduction (validated at training), so the
  // primary codes hold every dimension.
  switch (spec_.primary) {
    case Encoding::F32: std::memcpy(out.data(), primary, primary_bytes_); return;
    case Encoding::F16:
      quant::halves_to_floats({reinterpret_cast<const std::uint16_t*>(primary), out.size()}, out);
      return;
    case Encoding::Qavq: {
      const auto* row = reinterpret_cast<const std::uint8_t*>(primary);
      std::vector<std::uint8_t> labels(spec_.pq_sub_spaces);
      for (std::size_t m = 0; m < labels.size(); ++m) {
        labels[m] = static_cast<std::uint8_t>(spec_.pq_bits == 8 ? row[m] : quant::packed_nibble(row, m));
      }
      pq_->decode(quant::PqCodes(labels, labels.size(), spec_.pq_bits), 0, out);
      return;
    }
    default: primary_lvq_->decode(primary, secondary_bytes_ > 0 ? secondary : nullptr, out); return;
  }
}

float VectorEncoder::symmetric_distance(const std::byte* a, const std::byte* b) const {
  std::size_t dim = spec_.primary_dim();
  // LeanVec-OOD's data map B is fitted to inner products with queries, not between data:
  // <B^T x, B^T y> is no useful similarity (the codes are not centred), but
  // ||B^T (x - y)|| bounds how differently any query scores x and y, which is what a
  // graph walked by such queries should connect.
  bool ip = inner_product() && spec_.reduction != Reduction::LeanVecOod;
  switch (spec_.primary) {
    case Encoding::F32: {
      auto x = reinterpret_cast<const float*>(a);
      auto y = reinterpret_cast<const float*>(b);
      return ip ? -kernels_->dot(x, y, dim) : kernels_->l2_sq(x, y, dim);
    }
    case Encoding::F16: {
      auto x = reinterpret_cast<const std::uint16_t*>(a);
      auto y = reinterpret_cast<const std::uint16_t*>(b);
      return ip ? -kernels_->dot_f16f16(x, y, dim) : kernels_->l2_sq_f16f16(x, y, dim);
    }
    case Encoding::Qavq:
      // As for LeanVec-OOD: how differently the sample queries score the two vectors.
      return pq_->code_distance(reinterpret_cast<const std::uint8_t*>(a), reinterpret_cast<const std::uint8_t*>(b));
    default: {
      float value = primary_lvq_->symmetric(ip ? quant::LvqCodec::Kind::InnerProduct : quant::LvqCodec::Kind::L2, a, b);
      return ip ? -value : value;
    }
  }
}

VectorEncoder::Query VectorEncoder::prepare(std::span<const float> query) const {
  Query prepared;
  prepared.full.assign(query.begin(), query.end());
  if (spec_.metric == Metric::Cosine) quant::normalize(prepared.full);
  if (leanvec_) {
    prepared.reduced.resize(spec_.reduced_dim);
    leanvec_->project_query(prepared.full, prepared.reduced);
  }
  auto kind = inner_product() ? quant::LvqCodec::Kind::InnerProduct : quant::LvqCodec::Kind::L2;
  if (primary_lvq_) prepared.primary_lvq.emplace(primary_lvq_->prepare(prepared.primary(), kind));
  if (secondary_lvq_) prepared.secondary_lvq.emplace(secondary_lvq_->prepare(prepared.full, kind));
  if (pq_) {
    prepared.pq_table.resize(pq_->lookup_table_size());
    pq_->lookup_table(prepared.full, prepared.pq_table);
    if (spec_.pq_bits == 4) prepared.pq_bytes = quant::quantize_lut(prepared.pq_table, spec_.pq_sub_spaces);
  }
  return prepared;
}

float VectorEncoder::secondary_distance(const Query& query, const std::byte* primary, const std::byte* secondary) const {
  bool ip = inner_product();
  const float* q = query.full.data();
  std::size_t dim = spec_.dim;
  float value = 0.0f;
  switch (spec_.rerank) {
    case Rerank::F32: {
      auto x = reinterpret_cast<const float*>(secondary);
      return ip ? -kernels_->dot(q, x, dim) : kernels_->l2_sq(q, x, dim);
    }
    case Rerank::F16: {
      auto x = reinterpret_cast<const std::uint16_t*>(secondary);
      return ip ? -kernels_->dot_f16(q, x, dim) : kernels_->l2_sq_f16(q, x, dim);
    }
    case Rerank::Lvq8: value = secondary_lvq_->distance(*query.secondary_lvq, secondary); break;
    case Rerank::None:
      if (pq_) {
        const auto* codes = reinterpret_cast<const char*>(primary);
        return spec_.pq_bits == 8 ? PqTableDistance<8>{query.pq_table.data(), spec_.pq_sub_spaces}(codes)
                                  : PqTableDistance<4>{query.pq_table.data(), spec_.pq_sub_spaces}(codes);
      }
      value = primary_lvq_->distance(*query.primary_lvq, primary, secondary);
      break;
  }
  return ip ? -value : value;
}

void VectorEncoder::save(const std::filesystem::path& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(encoder_magic, sizeof encoder_magic);
  unsigned char parts = (leanvec_ ? 1 : 0) | (primary_lvq_ ? 2 : 0) | (secondary_lvq_ ? 4 : 0) | (pq_ ? 8 : 0);
  out.put(static_cast<char>(parts));
  if (leanvec_) leanvec_->save(out);
  if (primary_lvq_) primary_lvq_->save(out);
  if (secondary_lvq_) secondary_lvq_->save(out);
  if (pq_) pq_->save(out);
  out.flush();
  if (!out) throw IoError("cannot write '" + path.string() + "'");
}

VectorEncoder VectorEncoder::load(const IndexSpec& spec, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open '" + path.string() + "'");
  char magic[sizeof encoder_magic] = {};
  in.read(magic, sizeof magic);
  int parts = in.get();
  if (!in || std::memcmp(magic, encoder_magic, sizeof magic) != 0) {
    throw CorruptFile(path.string() + ": not a quiver encoder file (bad magic or truncated header)");
  }
  VectorEncoder encoder(untrained_spec(spec));
  encoder.spec_ = spec;
  encoder.primary_lvq_.reset();
  encoder.secondary_lvq_.reset();
  int expected = (spec.reduction != Reduction::None ? 1 : 0) | (is_lvq(spec.primary) ? 2 : 0) |
                 (spec.rerank == Rerank::Lvq8 ? 4 : 0) | (spec.primary == Encoding::Qavq ? 8 : 0);
  if (parts != expected) {
    throw CorruptFile(path.string() + ": holds encoder parts " + std::to_string(parts) + " but the index spec '" +
                      spec.to_string() + "' needs " + std::to_string(expected));
  }
  auto mismatch = [&](const char* what, std::size_t got, std::size_t want) {
    if (got != want) {
      throw CorruptFile(path.string() + ": " + what + " has dimension " + std::to_string(got) +
                        " but the index needs " + std::to_string(want) + " (the file does not match the index)");
    }
  };
  if (parts & 1) {
    encoder.leanvec_ = quant::LeanVec::load(in, path.string());
    mismatch("LeanVec input", encoder.leanvec_->input_dim(), spec.dim);
    mismatch("LeanVec output", encoder.leanvec_->output_dim(), spec.reduced_dim);
    bool ood = encoder.leanvec_->kind() == quant::LeanVecKind::OutOfDistribution;
    if (ood != (spec.reduction == Reduction::LeanVecOod)) {
      throw CorruptFile(path.string() + ": LeanVec kind does not match the index spec");
    }
  }
  if (parts & 2) {
    encoder.primary_lvq_ = quant::LvqCodec::load(in, path.string());
    mismatch("primary LVQ codec", encoder.primary_lvq_->dim(), spec.primary_dim());
    auto config = lvq_config(spec.primary);
    if (encoder.primary_lvq_->config().bits != config.bits ||
        encoder.primary_lvq_->config().residual_bits != config.residual_bits) {
      throw CorruptFile(path.string() + ": primary LVQ bits do not match the index spec");
    }
  }
  if (parts & 4) {
    encoder.secondary_lvq_ = quant::LvqCodec::load(in, path.string());
    mismatch("re-rank LVQ codec", encoder.secondary_lvq_->dim(), spec.dim);
  }
  if (parts & 8) {
    encoder.pq_ = quant::QueryAwarePq::load(in, path.string());
    mismatch("qavq codebooks", encoder.pq_->dim(), spec.dim);
    if (encoder.pq_->sub_spaces() != spec.pq_sub_spaces || encoder.pq_->bits() != spec.pq_bits) {
      throw CorruptFile(path.string() + ": qavq codebooks have " + std::to_string(encoder.pq_->sub_spaces()) +
                        " sub-spaces of " + std::to_string(encoder.pq_->bits()) + " bits, but the index spec '" +
                        spec.to_string() + "' needs " + std::to_string(spec.pq_sub_spaces) + " of " +
                        std::to_string(spec.pq_bits));
    }
    if (encoder.pq_->overlapping() != spec.pq_overlapping) {
      throw CorruptFile(path.string() + ": qavq codebooks are " + (encoder.pq_->overlapping() ? "" : "not ") +
                        "overlapping, but the index spec '" + spec.to_string() + "' says otherwise");
    }
  }
  if (in.peek() != std::char_traits<char>::eof()) throw CorruptFile(path.string() + ": unexpected trailing bytes");
  encoder.size_codes();
  return encoder;
}

}  // namespace quiver::engine

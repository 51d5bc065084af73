#include "bench/dataset.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "bench/glove.h"
#include "tests/support/ood_synthetic.h"
#include "quiver/error.h"
#include "quiver/vector_io.h"

namespace quiver::bench {
namespace {

namespace fs = std::filesystem;

// The Debian package dataset-fashion-mnist: exactly ann-benchmarks'
// fashion-mnist-784-euclidean (train = base, t10k = queries).
Dataset load_fashion_mnist() {
  const fs::path dir = QUIVER_FASHION_MNIST_DIR;
  const fs::path train = dir / "train-images-idx3-ubyte.gz";
  const fs::path test = dir / "t10k-images-idx3-ubyte.gz";
  if (!fs::exists(train) || !fs::exists(test)) {
    throw NotFound("fashion-mnist: " + train.string() + " or " + test.string() +
                   " is missing; install it with `apt-get install dataset-fashion-mnist`");
  }
  Dataset data;
  data.name = "fashion-mnist-784-euclidean";
  data.metric = Metric::L2;
  data.base = read_vectors(train);
  data.queries = read_vectors(test);
  return data;
}

Dataset load_glove_100(const fs::path& cache_dir) {
  const GloveFiles files = ensure_glove_100(cache_dir / "glove-100");
  Dataset data;
  data.name = "glove-100";
  data.metric = Metric::Cosine;
  data.base = read_vectors(files.base);
  data.queries = read_vectors(files.queries);
  return data;
}

// Real attention queries and keys of one transformer head, kept in shared/data.
Dataset load_attention() {
  const fs::path dir = fs::path(QUIVER_SHARED_DATA_DIR) / "attn-pylm-l3h0";
  if (!fs::exists(dir / "keys.fbin")) {
    throw NotFound("attn-pylm-l3h0: " + (dir / "keys.fbin").string() + " is missing");
  }
  Dataset data;
  data.name = "attn-pylm-l3h0";
  data.metric = Metric::InnerProduct;
  data.base = read_vectors(dir / "keys.fbin");
  data.queries = read_vectors(dir / "queries_eval.fbin");
  data.train_queries = read_vectors(dir / "queries_train.fbin");
  data.ground_truth = read_int_vectors(dir / "groundtruth_eval_top100.ibin");
  return data;
}

// "ood-synth-<dim>" or "ood-synth-<dim>-<keys>": the documented seeded generator of
// tests/support/ood_synthetic.h (keys and queries in different cones with different
// covariances, heavy-tailed key norms; inner product), 100,000 keys unless given,
// 20,000 sample queries for training and 2,000 for evaluation.
std::optional<Dataset> load_ood_synthetic(const std::string& name) {
  const std::string prefix = "ood-synth-";
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string rest = name.substr(prefix.size());
  const std::size_t dash = rest.find('-');
  const std::string dim_text = rest.substr(0, dash);
  const std::string keys_text = dash == std::string::npos ? "100000" : rest.substr(dash + 1);
  const auto is_number = [](const std::string& t) {
    return !t.empty() && t.size() < 9 && t.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!is_number(dim_text) || !is_number(keys_text) || std::stoul(dim_text) < 2 || std::stoul(keys_text) < 1000) {
    throw InvalidArgument("--dataset " + name + ": expected ood-synth-<dim> or ood-synth-<dim>-<keys>, dim >= 2, keys >= 1000");
  }
  const std::size_t dim = std::stoul(dim_text);
  const std::size_t keys = std::stoul(keys_text);
  testing::OodSet set = testing::ood_synthetic(keys, 20000, 2000, dim);
  Dataset data;
  data.name = "ood-synth-" + std::to_string(dim) + "-" + std::to_string(keys);
  data.metric = Metric::InnerProduct;
  data.base = std::move(set.keys);
  data.queries = std::move(set.eval_queries);
  data.train_queries = std::move(set.train_queries);
  return data;
}

bool is_hdf5(const fs::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".hdf5" || extension == ".h5";
}

Dataset load_hdf5(const fs::path& path) {
  AnnDataset file = read_ann_hdf5(path);
  Dataset data;
  data.name = path.stem().string();
  data.metric = parse_metric(file.distance);
  data.base = std::move(file.train);
  data.queries = std::move(file.test);
  data.ground_truth = std::move(file.neighbors);
  return data;
}

Dataset load_files(const DatasetRequest& request) {
  const fs::path path = request.name_or_path;
  if (!request.queries) {
    throw InvalidArgument("--dataset " + path.string() +
                          " is a vector file, so --queries PATH is needed too (or give an "
                          "ann-benchmarks .hdf5 file, which holds both)");
  }
  if (!request.metric) {
    throw InvalidArgument("--dataset " + path.string() +
                          " is a vector file, so --metric l2|ip|cosine is needed too");
  }
  Dataset data;
  data.name = path.stem().string();
  data.metric = *request.metric;
  data.base = read_vectors(path);
  return data;
}

void check_shapes(const Dataset& data) {
  auto dims = [](std::string_view what, const Matrix& m, std::size_t dim) {
    if (m.rows != 0 && m.cols != dim) {
      throw InvalidArgument(std::string(what) + " have " + std::to_string(m.cols) +
                            " dimensions, the base vectors " + std::to_string(dim));
    }
  };
  if (data.base.rows == 0) throw InvalidArgument("data set " + data.name + " has no base vectors");
  if (data.queries.rows == 0) throw InvalidArgument("data set " + data.name + " has no queries");
  dims("queries", data.queries, data.base.cols);
  dims("training queries", data.train_queries, data.base.cols);
  if (data.ground_truth.rows != 0 && data.ground_truth.rows != data.queries.rows) {
    throw InvalidArgument("ground truth has " + std::to_string(data.ground_truth.rows) +
                          " rows but there are " + std::to_string(data.queries.rows) + " queries");
  }
}

}  // namespace

std::vector<std::string> known_dataset_names() {
  return {"fashion-mnist", "glove-100", "attn-pylm-l3h0", "ood-synth-<dim>[-<keys>]"};
}

Dataset load_dataset(const DatasetRequest& request) {
  const std::string& name = request.name_or_path;
  Dataset data;
  if (name == "fashion-mnist") {
    data = load_fashion_mnist();
  } else if (name == "glove-100") {
    data = load_glove_100(request.cache_dir);
  } else if (name == "attn-pylm-l3h0") {
    data = load_attention();
  } else if (std::optional<Dataset> synthetic = load_ood_synthetic(name)) {
    data = std::move(*synthetic);
  } else if (fs::exists(name)) {
    data = is_hdf5(name) ? load_hdf5(name) : load_files(request);
  } else {
    std::string known;
    for (const std::string& n : known_dataset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InvalidArgument("--dataset " + name + " is neither a known data set (" + known +
                          ") nor an existing file");
  }

  if (request.queries) {
    data.queries = read_vectors(*request.queries);
    data.ground_truth = {};  // a shipped ground truth belongs to the shipped queries
  }
  if (request.metric && *request.metric != data.metric) {
    data.metric = *request.metric;
    data.ground_truth = {};  // neighbours under another metric
  }
  if (request.train_queries) data.train_queries = read_vectors(*request.train_queries);
  if (request.ground_truth) data.ground_truth = read_int_vectors(*request.ground_truth);
  check_shapes(data);
  return data;
}

void limit_queries(Dataset& data, std::size_t max_queries) {
  if (data.queries.rows <= max_queries) return;
  data.queries.values.resize(max_queries * data.queries.cols);
  data.queries.rows = max_queries;
  if (data.ground_truth.rows != 0) {
    data.ground_truth.values.resize(max_queries * data.ground_truth.cols);
    data.ground_truth.rows = max_queries;
  }
}

void limit_train_queries(Dataset& data, std::size_t max_train_queries) {
  if (data.train_queries.rows <= max_train_queries) return;
  data.train_queries.values.resize(max_train_queries * data.train_queries.cols);
  data.train_queries.rows = max_train_queries;
}

}  // namespace quiver::bench

// Relevance filtering after retrieval (the Cosine Adapter, Rossi et al., CIKM 2024, with
// quiver's score-distribution features): a small network reads the query and its own top-k
// scores and outputs a monotone map of the raw score, so that ONE global threshold on the
// mapped score, a calibrated probability of relevance, cuts every query's result list.
// It sits between search (Index::search, exact_search) and re-ranking; ranking within a
// query is unchanged.
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

#include "quiver/export.h"
#include "quiver/hit.h"
#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver {

// Format version of the filter file this build writes; it reads this and older.
inline constexpr int relevance_filter_format_version = 1;

// The family of monotone maps z = f(s) of the raw similarity s; relevance = sigmoid(z).
// The network outputs f's parameters per query, constrained so that f is increasing.
//   Linear:    z = a*s' + b                     (a > 0)
//   Power:     z = a*u^p + b                    (a > 0, p > 0)
//   Quadratic: z = b + alpha*u + beta*u^2       (increasing on [0, 1])
// s' is the score standardised with the training set's mean and spread, u = sigmoid(s')
// squashes it into (0, 1) where powers and squares are monotone.
enum class RelevanceMap { Linear, Power, Quadratic };

// "linear", "power", "quadratic"
QUIVER_API std::string to_string(RelevanceMap map);
// Throws InvalidArgument naming the accepted spellings.
QUIVER_API RelevanceMap parse_relevance_map(std::string_view text);

struct RelevanceOptions {
  RelevanceMap map = RelevanceMap::Linear;
  std::size_t hidden_units = 48;  // tanh units of the one hidden layer
  // Queries wider than this are reduced by a PCA learned on the training queries; 0 keeps
  // the full query (slow and prone to over-fitting above a few hundred dimensions).
  std::size_t pca_dims = 32;
  bool use_query = true;         // the query embedding as input (the paper's adapter)
  bool use_score_features = true;  // the query's top-k score distribution (quiver's extension)
  std::size_t max_epochs = 300;
  std::size_t patience = 20;          // epochs without validation improvement before stopping
  std::size_t batch_queries = 32;     // queries per mini-batch; each brings all its hits
  double learning_rate = 2e-3;        // Adam
  double l2 = 1e-4;                   // weight decay on the weights, not the biases
  double validation_fraction = 0.1;   // training queries held out for early stopping
  std::uint64_t seed = 42;
};

// Labelled retrieval results: the input of training, and of evaluation. For each query row,
// its hits as the search returned them (Hit::score raw, best first: exact_search or
// Index::search output) and one 0/1 label per hit (1 = relevant).
struct RelevanceTrainingSet {
  MatrixView queries;
  std::vector<std::vector<Hit>> hits;
  std::vector<std::vector<std::uint8_t>> labels;
  Metric metric = Metric::Cosine;
  // Free text saved with a trained filter (data, preprocessing, command line): tools read it
  // back to evaluate on the same pipeline. The filter itself never interprets it.
  std::string provenance;
};

// Class labels, one integer per row: IDX label files (Fashion-MNIST's *-labels-idx1-ubyte.gz),
// one-column .ivecs/.ibin/.npy, or text (.txt, .csv) with one integer per line. Throws
// NotFound, CorruptFile, or InvalidArgument for a file with more than one column.
QUIVER_API std::vector<std::int32_t> read_labels(const std::filesystem::path& path);

// Labelled results where relevance means sharing a class (Fashion-MNIST's clothing
// categories, a product taxonomy): each query row's `k` nearest rows of `base` by
// exact_search, each labelled 1 when its class equals the query's. The result views
// `queries`, which must outlive it. Throws InvalidArgument when a class list's length
// does not match its matrix.
QUIVER_API RelevanceTrainingSet label_by_class(MatrixView base, std::span<const std::int32_t> base_classes,
                                               MatrixView queries, std::span<const std::int32_t> query_classes,
                                               std::size_t k, Metric metric, std::size_t threads = 0);

// What train() measured, for logs and reports.
struct RelevanceTrainingSummary {
  std::size_t fit_queries = 0;
  std::size_t validation_queries = 0;
  std::size_t epochs = 0;       // epochs run, including the patience tail
  std::size_t best_epoch = 0;   // epoch whose weights were kept (1-based)
  double fit_loss = 0;          // mean binary cross-entropy per pair at best_epoch
  double validation_loss = 0;
  double positive_rate = 0;     // relevant fraction of the training pairs
};

class QUIVER_API RelevanceFilter {
 public:
  // Trains with binary cross-entropy on every (query, hit, label) pair; deterministic for a
  // given options.seed. Throws InvalidArgument on inconsistent or single-class input.
  static RelevanceFilter train(const RelevanceTrainingSet& data, const RelevanceOptions& options = {});
  // Loads and validates a file written by save(); CorruptFile names what is wrong.
  static RelevanceFilter load(const std::filesystem::path& path);

  RelevanceFilter(const RelevanceFilter&);
  RelevanceFilter& operator=(const RelevanceFilter&);
  RelevanceFilter(RelevanceFilter&&) noexcept;
  RelevanceFilter& operator=(RelevanceFilter&&) noexcept;
  ~RelevanceFilter();

  // Probability of relevance of each hit, in the order given. `hits` are one search's
  // results with raw scores; the score features come from them, so pass the same number of
  // hits the filter was trained with (training_k()). Monotone in the score: a better hit
  // never gets a lower relevance.
  std::vector<float> relevance(std::span<const float> query, const std::vector<Hit>& hits, Metric metric) const;
  // The hits whose relevance is at least `threshold` (in [0, 1]), in the order given.
  std::vector<Hit> filter(std::span<const float> query, const std::vector<Hit>& hits, Metric metric,
                          float threshold = 0.5f) const;

  // JSON with a format version and a checksum, written atomically (temp file, fsync, rename).
  void save(const std::filesystem::path& path) const;

  Metric metric() const;
  std::size_t dim() const;
  std::size_t training_k() const;  // hits per query in the training set (the largest)
  const RelevanceOptions& options() const;
  const RelevanceTrainingSummary& training_summary() const;
  const std::string& provenance() const;

 private:
  struct Impl;
  explicit RelevanceFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Evaluation against the baselines ------------------------------------------------

// One cut-off method on the evaluation set. Recall counts relevant hits kept among the
// relevant hits retrieved (the filter cannot recover what search missed).
struct RelevanceMethodResult {
  std::string name;       // "adapter", "global_threshold", "top_k", ...
  std::string parameter;  // the tuned setting, e.g. "k = 37", "s >= 0.412"
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  double mean_returned = 0;    // hits kept per query
  std::optional<double> ece;   // methods that output probabilities
};

struct ReliabilityBin {
  double lower = 0, upper = 0;  // predicted-probability range [lower, upper)
  double mean_predicted = 0;
  double observed = 0;          // fraction relevant
  std::size_t count = 0;
};

// One global threshold on the adapter's relevance against one on the raw score, each set on
// the evaluation pairs to reach the same recall: the precision-recall curves compared point
// by point.
struct PrecisionAtRecall {
  double recall = 0;
  double adapter_precision = 0;
  double raw_precision = 0;
};

struct RelevanceReport {
  // The recall the best-F1 global raw-score threshold (tuned on the tuning set) reaches on
  // the evaluation set; every other method is tuned on the tuning set to reach it.
  double recall_target = 0;
  std::vector<RelevanceMethodResult> methods;  // adapter first, then the baselines
  RelevanceMethodResult adapter_at_half;       // the adapter at its natural cut, 0.5
  double adapter_pr_auc = 0, raw_pr_auc = 0;   // average precision over all pairs
  double adapter_p_at_r95 = 0, raw_p_at_r95 = 0;
  std::vector<PrecisionAtRecall> matched_recall;  // recall 0.5, 0.6, 0.7, 0.8, 0.9, 0.95
  std::vector<ReliabilityBin> reliability;     // adapter, 10 bins
  double ece = 0;                              // adapter's expected calibration error
  std::size_t queries = 0, pairs = 0, relevant_pairs = 0;
};

// Tunes the baselines (global threshold, fixed top-k, relative to the top score, per-query
// z-score, largest gap, Platt, isotonic) and the adapter's threshold on `tuning` (normally
// the training set), then measures all of them on `evaluation`.
QUIVER_API RelevanceReport evaluate_relevance(const RelevanceFilter& filter, const RelevanceTrainingSet& tuning,
                                              const RelevanceTrainingSet& evaluation);

}  // namespace quiver

#include "filters/filter_model_file.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "filters/atomic_file.h"
#include "quiver/error.h"

namespace quiver::filters {
namespace {

using nlohmann::json;

constexpr const char* format_name = "quiver-relevance-filter";

json to_json(const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); }

// Throws CorruptFile unless `value` is an array of `expected` finite numbers.
Eigen::VectorXd vector_from(const json& value, std::size_t expected, const char* field) {
  const auto numbers = value.get<std::vector<double>>();
  if (numbers.size() != expected) {
    throw CorruptFile(std::string(field) + " holds " + std::to_string(numbers.size()) + " numbers, expected " +
                      std::to_string(expected));
  }
  for (const double v : numbers) {
    if (!std::isfinite(v)) throw CorruptFile(std::string(field) + " holds a non-finite number");
  }
  return Eigen::Map<const Eigen::VectorXd>(numbers.data(), static_cast<Eigen::Index>(numbers.size()));
}

// An integer field of type T. nlohmann's get<integer>() casts a floating-point value
// (undefined behaviour when it is out of range: the fuzzer found 4.4e124), so the value
// must be stored as an integer, and in T's range.
template <typename T>
T integer_at(const json& object, const char* key) {
  const json& value = object.at(key);
  const std::string what = std::string("field \"") + key + "\" ";
  if (!value.is_number_integer()) throw CorruptFile(what + "is not an integer");
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) throw CorruptFile(what + "is out of range");
    return static_cast<T>(v);
  }
  const auto v = value.get<std::int64_t>();
  if constexpr (!std::numeric_limits<T>::is_signed) {
    if (v < 0) throw CorruptFile(what + "is negative");
  } else if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
             v > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
    throw CorruptFile(what + "is out of range");
  }
  return static_cast<T>(v);
}

// FNV-1a, 64 bits, over the compact dump of the document without its checksum. The dump
// is canonical (keys sorted, shortest round-trip numbers), so a load recomputes it exactly.
std::string checksum(const json& document) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : document.dump()) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  char text[32];
  std::snprintf(text, sizeof text, "fnv1a64:%016llx", static_cast<unsigned long long>(hash));
  return text;
}

json options_json(const RelevanceOptions& o) {
  return {{"map", to_string(o.map)},
          {"hidden_units", o.hidden_units},
          {"pca_dims", o.pca_dims},
          {"use_query", o.use_query},
          {"use_score_features", o.use_score_features},
          {"max_epochs", o.max_epochs},
          {"patience", o.patience},
          {"batch_queries", o.batch_queries},
          {"learning_rate", o.learning_rate},
          {"l2", o.l2},
          {"validation_fraction", o.validation_fraction},
          {"seed", o.seed}};
}

RelevanceOptions options_from(const json& j) {
  RelevanceOptions o;
  o.map = parse_relevance_map(j.at("map").get<std::string>());
  o.hidden_units = integer_at<std::size_t>(j, "hidden_units");
  o.pca_dims = integer_at<std::size_t>(j, "pca_dims");
  o.use_query = j.at("use_query").get<bool>();
  o.use_score_features = j.at("use_score_features").get<bool>();
  o.max_epochs = integer_at<std::size_t>(j, "max_epochs");
  o.patience = integer_at<std::size_t>(j, "patience");
  o.batch_queries = integer_at<std::size_t>(j, "batch_queries");
  o.learning_rate = j.at("learning_rate").get<double>();
  o.l2 = j.at("l2").get<double>();
  o.validation_fraction = j.at("validation_fraction").get<double>();
  o.seed = integer_at<std::uint64_t>(j, "seed");
  return o;
}

json summary_json(const RelevanceTrainingSummary& s) {
  return {{"fit_queries", s.fit_queries},         {"validation_queries", s.validation_queries},
          {"epochs", s.epochs},                   {"best_epoch", s.best_epoch},
          {"fit_loss", s.fit_loss},               {"validation_loss", s.validation_loss},
          {"positive_rate", s.positive_rate}};
}

RelevanceTrainingSummary summary_from(const json& j) {
  RelevanceTrainingSummary s;
  s.fit_queries = integer_at<std::size_t>(j, "fit_queries");
  s.validation_queries = integer_at<std::size_t>(j, "validation_queries");
  s.epochs = integer_at<std::size_t>(j, "epochs");
  s.best_epoch = integer_at<std::size_t>(j, "best_epoch");
  s.fit_loss = j.at("fit_loss").get<double>();
  s.validation_loss = j.at("validation_loss").get<double>();
  s.positive_rate = j.at("positive_rate").get<double>();
  return s;
}

json inputs_json(const AdapterInputs::Parts& p) {
  json j = {{"query_dim", p.query_dim},
            {"score_mean", p.score_mean},
            {"score_scale", p.score_scale},
            {"use_query", p.use_query},
            {"use_score_features", p.use_score_features},
            {"feature_mean", to_json(p.feature_mean)},
            {"feature_scale", to_json(p.feature_scale)},
            {"pca", nullptr}};
  if (p.pca) {
    // Row-major: one principal direction after the other.
    const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = p.pca->components();
    j["pca"] = {{"dims", p.pca->output_dim()},
                {"mean", to_json(p.pca->mean())},
                {"components", std::vector<double>(rows.data(), rows.data() + rows.size())}};
  }
  return j;
}

AdapterInputs::Parts inputs_from(const json& j) {
  AdapterInputs::Parts p;
  p.query_dim = integer_at<std::size_t>(j, "query_dim");
  p.score_mean = j.at("score_mean").get<double>();
  p.score_scale = j.at("score_scale").get<double>();
  p.use_query = j.at("use_query").get<bool>();
  p.use_score_features = j.at("use_score_features").get<bool>();
  const json& pca = j.at("pca");
  if (!pca.is_null()) {
    const auto dims = integer_at<std::size_t>(pca, "dims");
    if (dims == 0 || dims > p.query_dim) {
      throw CorruptFile("pca.dims = " + std::to_string(dims) + " for " + std::to_string(p.query_dim) +
                        "-dimensional queries");
    }
    Eigen::VectorXd mean = vector_from(pca.at("mean"), p.query_dim, "pca.mean");
    const Eigen::VectorXd flat = vector_from(pca.at("components"), dims * p.query_dim, "pca.components");
    Eigen::MatrixXd components = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        flat.data(), static_cast<Eigen::Index>(dims), static_cast<Eigen::Index>(p.query_dim));
    p.pca.emplace(std::move(mean), std::move(components));
  }
  const auto features = j.at("feature_mean").size();
  p.feature_mean = vector_from(j.at("feature_mean"), features, "inputs.feature_mean");
  p.feature_scale = vector_from(j.at("feature_scale"), features, "inputs.feature_scale");
  return p;
}

FilterModel model_from(const json& document) {
  const ScoreMap map(parse_relevance_map(document.at("map").get<std::string>()));
  AdapterInputs inputs(inputs_from(document.at("inputs")));
  const json& net = document.at("network");
  const auto n_inputs = integer_at<std::size_t>(net, "inputs");
  const auto hidden = integer_at<std::size_t>(net, "hidden");
  const auto outputs = integer_at<std::size_t>(net, "outputs");
  // Bound the sizes before multiplying them: a crafted file must not overflow the count.
  constexpr std::size_t max_size = std::size_t{1} << 20;
  if (n_inputs > max_size || hidden > max_size || outputs > max_size) {
    throw CorruptFile("network shape " + std::to_string(n_inputs) + "-" + std::to_string(hidden) + "-" +
                      std::to_string(outputs) + " is implausibly large");
  }
  AdapterNetwork network(n_inputs, hidden, outputs,
                         vector_from(net.at("parameters"), AdapterNetwork::parameter_count(n_inputs, hidden, outputs),
                                     "network.parameters"));
  CosineAdapter adapter(parse_metric(document.at("metric").get<std::string>()),
                        integer_at<std::size_t>(document, "training_k"), map, std::move(inputs), std::move(network));
  return FilterModel{std::move(adapter), options_from(document.at("options")),
                     summary_from(document.at("summary")), document.at("provenance").get<std::string>()};
}

}  // namespace

void save_filter_model(const FilterModel& model, const std::filesystem::path& path) {
  const CosineAdapter& adapter = model.adapter;
  const AdapterNetwork& network = adapter.network();
  json document = {{"format", format_name},
                   {"version", relevance_filter_format_version},
                   {"metric", to_string(adapter.metric())},
                   {"training_k", adapter.training_k()},
                   {"map", to_string(adapter.map().family())},
                   {"options", options_json(model.options)},
                   {"summary", summary_json(model.summary)},
                   {"provenance", model.provenance},
                   {"inputs", inputs_json(adapter.inputs().parts())},
                   {"network",
                    {{"inputs", network.inputs()},
                     {"hidden", network.hidden()},
                     {"outputs", network.outputs()},
                     {"parameters", to_json(network.parameters())}}}};
  document["checksum"] = checksum(document);
  write_file_atomically(path, document.dump() + "\n");
}

FilterModel load_filter_model(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  const std::string where = "relevance filter file '" + path.string() + "'";
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& error) {
    // parse_error for bad syntax, out_of_range for a number beyond double (1e999).
    throw CorruptFile(where + " is not valid JSON (" + error.what() + ")");
  }
  try {
    if (!document.is_object() || document.value("format", "") != format_name) {
      throw CorruptFile(where + " is not a quiver relevance filter (no \"format\": \"" + format_name + "\")");
    }
    const int version = integer_at<int>(document, "version");
    if (version > relevance_filter_format_version) {
      throw IncompatibleVersion(where + " has format version " + std::to_string(version) + "; this build reads up to " +
                                std::to_string(relevance_filter_format_version) + ": upgrade quiver");
    }
    if (version < 1) throw CorruptFile(where + " has format version " + std::to_string(version));
    const std::string stored = document.at("checksum").get<std::string>();
    document.erase("checksum");
    if (checksum(document) != stored) {
      throw CorruptFile(where + " fails its checksum: the file was damaged or edited after it was saved");
    }
    return model_from(document);
  } catch (const CorruptFile& error) {
    // Messages thrown by the field readers lack the file name.
    const std::string message = error.what();
    if (message.rfind(where, 0) == 0) throw;
    throw CorruptFile(where + ": " + message);
  } catch (const json::exception& error) {
    throw CorruptFile(where + ": missing or mistyped field (" + error.what() + ")");
  } catch (const InvalidArgument& error) {
    throw CorruptFile(where + ": inconsistent contents (" + error.what() + ")");
  }
}

}  // namespace quiver::filters

#include "bench/report.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <tuple>

#include <nlohmann/json.hpp>

#include "quiver/error.h"

namespace quiver::bench {
namespace {

using Json = nlohmann::ordered_json;

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string optional_fixed(const std::optional<double>& value, int decimals) {
  return value ? fixed(*value, decimals) : "-";
}

std::string qps_text(double qps) { return qps > 0.0 ? fixed(qps, qps < 100.0 ? 1 : 0) : "-"; }

std::string ratio_text(double numerator, double denominator) {
  return numerator > 0.0 && denominator > 0.0 ? fixed(numerator / denominator, 2) + "x" : "-";
}

// Best QPS among the points of one curve (or all curves of a system when config is
// empty) at this thread mode whose recall reaches the target.
double best_qps(const std::vector<SweepPoint>& points, const std::string& system, const std::string& config,
                std::size_t threads, double target) {
  double best = 0.0;
  for (const SweepPoint& p : points) {
    if (p.system == system && (config.empty() || p.config == config) && p.threads == threads &&
        p.recall >= target) {
      best = std::max(best, p.qps);
    }
  }
  return best;
}

Json nullable(const std::optional<double>& value) { return value ? Json(*value) : Json(nullptr); }

std::string file_safe(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  }
  return out;
}

}  // namespace

std::vector<RecallThreshold> qps_at_recall(const std::vector<SweepPoint>& points) {
  std::vector<std::size_t> thread_modes;
  std::vector<std::string> configs;
  for (const SweepPoint& p : points) {
    if (std::find(thread_modes.begin(), thread_modes.end(), p.threads) == thread_modes.end()) {
      thread_modes.push_back(p.threads);
    }
    if (p.system == "quiver" && std::find(configs.begin(), configs.end(), p.config) == configs.end()) {
      configs.push_back(p.config);
    }
  }
  std::vector<RecallThreshold> thresholds;
  for (const std::size_t threads : thread_modes) {
    for (const std::string& config : configs) {
      for (const double target : recall_targets) {
        thresholds.push_back({threads, config, target, best_qps(points, "quiver", config, threads, target),
                              best_qps(points, "hnswlib", "", threads, target),
                              best_qps(points, "faiss", "", threads, target)});
      }
    }
  }
  return thresholds;
}

void print_table(std::ostream& out, const RunInfo& info, const std::vector<SweepPoint>& points) {
  out << "\n" << info.dataset << ": n " << info.n << ", nq " << info.nq << ", dim " << info.dim << ", " << info.metric
      << ", k " << info.k << "; M " << info.M << ", ef_construction " << info.ef_construction << "; "
      << info.machine.summary() << "\n\n";
  // Beyond k = 10, "recall" is recall@k and a second column gives recall 10@k.
  const bool top10 = std::any_of(points.begin(), points.end(), [](const SweepPoint& p) { return p.top10_recall; });
  out << "| system | config | params | threads | recall | " << (top10 ? "recall 10@k | " : "")
      << "QPS | p50 us | p99 us | dist/query | build s | memory MB |\n"
      << "|---|---|---|---:|---:|" << (top10 ? "---:|" : "") << "---:|---:|---:|---:|---:|---:|\n";
  for (const SweepPoint& p : points) {
    out << "| " << p.system << " | " << p.config << " | " << p.parameter << "=" << p.ef << " | " << p.threads << " | "
        << fixed(p.recall, 4) << " | " << (top10 ? optional_fixed(p.top10_recall, 4) + " | " : "")
        << qps_text(p.qps) << " | " << optional_fixed(p.p50_us, 1) << " | "
        << optional_fixed(p.p99_us, 1) << " | " << fixed(p.dist_per_query, 1) << " | " << fixed(p.build_s, 1)
        << " | " << fixed(static_cast<double>(p.memory_bytes) / 1e6, 1) << " |\n";
  }
}

void print_qps_at_recall(std::ostream& out, const std::vector<RecallThreshold>& thresholds) {
  std::optional<std::pair<std::size_t, std::string>> current;
  for (const RecallThreshold& t : thresholds) {
    if (!current || current->first != t.threads || current->second != t.config) {
      current.emplace(t.threads, t.config);
      out << "\nQPS at recall >= R, threads " << t.threads << ", quiver " << t.config
          << " (best measured point per curve, no interpolation)\n\n"
          << "| R | quiver | hnswlib | faiss | quiver/hnswlib | quiver/faiss |\n"
          << "|---:|---:|---:|---:|---:|---:|\n";
    }
    out << "| " << fixed(t.target, 2) << " | " << qps_text(t.quiver_qps) << " | " << qps_text(t.hnswlib_qps) << " | "
        << qps_text(t.faiss_qps) << " | " << ratio_text(t.quiver_qps, t.hnswlib_qps) << " | "
        << ratio_text(t.quiver_qps, t.faiss_qps) << " |\n";
  }
}

void write_json(const std::filesystem::path& path, const RunInfo& info, const std::vector<SweepPoint>& points,
                const std::vector<RecallThreshold>& thresholds) {
  Json doc;
  doc["dataset"] = info.dataset;
  doc["n"] = info.n;
  doc["nq"] = info.nq;
  doc["dim"] = info.dim;
  doc["metric"] = info.metric;
  doc["k"] = info.k;
  // One mode gives the plain number of BENCH.md; several give a list, and every run
  // entry carries its own.
  doc["threads"] = info.thread_modes.size() == 1 ? Json(info.thread_modes.front()) : Json(info.thread_modes);
  doc["machine"] = info.machine.summary();
  doc["machine_details"] = {{"cpu_model", info.machine.cpu_model},
                            {"cores", info.machine.cores},
                            {"simd", info.machine.simd},
                            {"load_average_at_start", info.machine.load_average}};
  doc["build"] = {{"M", info.M}, {"ef_construction", info.ef_construction}, {"threads", info.build_threads}};
  doc["reps"] = info.reps;
  doc["quick"] = info.quick;
  doc["command"] = info.command;

  Json runs = Json::array();
  for (const SweepPoint& p : points) {
    runs.push_back({{"system", p.system},
                    {"config", p.config},
                    {"params", {{p.parameter, p.ef}}},
                    {"threads", p.threads},
                    {"recall", p.recall},
                    {"recall_10_at_k", nullable(p.top10_recall)},
                    {"qps", p.qps},
                    {"p50_us", nullable(p.p50_us)},
                    {"p99_us", nullable(p.p99_us)},
                    {"build_s", p.build_s},
                    {"memory_bytes", p.memory_bytes},
                    {"dist_per_query", p.dist_per_query}});
  }
  doc["runs"] = std::move(runs);

  Json summary = Json::array();
  for (const RecallThreshold& t : thresholds) {
    auto qps = [](double v) { return v > 0.0 ? Json(v) : Json(nullptr); };
    auto ratio = [](double a, double b) { return a > 0.0 && b > 0.0 ? Json(a / b) : Json(nullptr); };
    summary.push_back({{"threads", t.threads},
                       {"config", t.config},
                       {"recall_at_least", t.target},
                       {"quiver_qps", qps(t.quiver_qps)},
                       {"hnswlib_qps", qps(t.hnswlib_qps)},
                       {"faiss_qps", qps(t.faiss_qps)},
                       {"vs_hnswlib", ratio(t.quiver_qps, t.hnswlib_qps)},
                       {"vs_faiss", ratio(t.quiver_qps, t.faiss_qps)}});
  }
  doc["qps_at_recall"] = std::move(summary);

  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) throw IoError("could not write " + path.string());
}

void write_plot_data(const std::filesystem::path& dir, const RunInfo& info, const std::vector<SweepPoint>& points) {
  std::filesystem::create_directories(dir);
  std::map<std::tuple<std::string, std::string, std::size_t>, std::vector<const SweepPoint*>> curves;
  for (const SweepPoint& p : points) curves[{p.system, p.config, p.threads}].push_back(&p);
  for (const auto& [key, curve] : curves) {
    const auto& [system, config, threads] = key;
    const std::filesystem::path path = dir / (file_safe(info.dataset) + "-t" + std::to_string(threads) + "-" +
                                              file_safe(system) + "-" + file_safe(config) + ".dat");
    std::ofstream out(path);
    // bench/plot takes the first line, minus "# ", as the curve's title.
    out << "# " << system << " " << config << ", " << threads << (threads == 1 ? " thread" : " threads") << "\n"
        << "# " << info.dataset << " k=" << info.k << "; columns: recall qps ef p50_us p99_us dist_per_query\n";
    for (const SweepPoint* p : curve) {
      out << p->recall << " " << p->qps << " " << p->ef << " " << optional_fixed(p->p50_us, 1) << " "
          << optional_fixed(p->p99_us, 1) << " " << p->dist_per_query << "\n";
    }
    if (!out) throw IoError("could not write " + path.string());
  }
}

}  // namespace quiver::bench

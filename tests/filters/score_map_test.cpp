#include <doctest/doctest.h>

#include <array>
#include <random>
#include <vector>

#include "filters/score_map.h"
#include "filters/smooth_functions.h"

using namespace quiver;
using namespace quiver::filters;

namespace {

constexpr std::array<RelevanceMap, 3> families = {RelevanceMap::Linear, RelevanceMap::Power, RelevanceMap::Quadratic};

}  // namespace

TEST_CASE("every map family is increasing in the score for any network output") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> wide(-8.0, 8.0);
  for (const RelevanceMap family : families) {
    CAPTURE(to_string(family));
    const ScoreMap map(family);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<double> theta(map.parameter_count());
      for (double& t : theta) t = wide(rng);
      double previous = map.value(theta, -6.0);
      for (double s = -6.0 + 0.05; s <= 6.0; s += 0.05) {
        const double z = map.value(theta, s);
        CHECK(z >= previous);
        previous = z;
      }
    }
  }
}

TEST_CASE("map gradients match finite differences") {
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> uniform(-2.0, 2.0);
  constexpr double h = 1e-6;
  for (const RelevanceMap family : families) {
    CAPTURE(to_string(family));
    const ScoreMap map(family);
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<double> theta(map.parameter_count());
      for (double& t : theta) t = uniform(rng);
      const double s = 2 * uniform(rng);
      std::vector<double> gradient(map.parameter_count());
      const double z = map.value_and_gradient(theta, s, gradient);
      CHECK(z == doctest::Approx(map.value(theta, s)));
      for (std::size_t p = 0; p < theta.size(); ++p) {
        auto plus = theta, minus = theta;
        plus[p] += h;
        minus[p] -= h;
        const double numeric = (map.value(plus, s) - map.value(minus, s)) / (2 * h);
        CHECK(gradient[p] == doctest::Approx(numeric).epsilon(1e-5).scale(1.0));
      }
    }
  }
}

TEST_CASE("the initial parameters reproduce the requested slope and offset at s' = 0") {
  constexpr double h = 1e-5;
  for (const RelevanceMap family : families) {
    CAPTURE(to_string(family));
    const ScoreMap map(family);
    std::vector<double> theta(map.parameter_count());
    map.initial_parameters(1.7, -0.4, theta);
    CHECK(map.value(theta, 0.0) == doctest::Approx(-0.4));
    CHECK((map.value(theta, h) - map.value(theta, -h)) / (2 * h) == doctest::Approx(1.7).epsilon(1e-3));
  }
}

TEST_CASE("stable logistic helpers stay finite far from zero") {
  CHECK(sigmoid(-800) >= 0.0);
  CHECK(sigmoid(800) == doctest::Approx(1.0));
  CHECK(softplus(800) == doctest::Approx(800));
  CHECK(inverse_softplus(softplus(0.3)) == doctest::Approx(0.3));
  CHECK(logistic_loss(-800, 1) == doctest::Approx(800));
  CHECK(log_sigmoid(-800) == doctest::Approx(-800));
}

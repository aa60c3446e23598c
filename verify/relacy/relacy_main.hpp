// verify/relacy/relacy_main.hpp -- the shared driver of every Relacy check.
//
// Include it LAST: after the standard headers, <relacy/relacy.hpp> and the lfarena headers (Relacy
// redefines `new`, `delete`, `assert`, ... so no standard header may follow it). A check is
//
//   int main() { return lfarena::relacy_check::run<my_test<2>, my_test<3>>("my_check"); }
//
// A test type may name itself (`static constexpr const char *kName = "two_threads";`).
// run() reads env LFARENA_SCALE (`ci`, the default, or `nightly`) and runs each test type under the
// plans of that scale:
//   ci:      context-bound search, bound 2 (exhaustive within the bound; ABA needs 2 preemptions),
//            then random search with 2*10^5 iterations
//   nightly: context-bound search, bound 3, then random search with 10^7 iterations
// Relacy's report goes to <name>[.mutant.<M>].<test>.<plan>.log in the working directory (an
// std::ofstream: an std::ostringstream crashes under g++); a failure's log is echoed to stdout.
// Exit code 0 when every simulation succeeded, 1 when one failed, 2 on usage errors. A mutant
// build (LFARENA_MUTANT_NAME, LFARENA_EXPECT_RESULT: the rl::test_result_e it must produce) exits
// 0 only if Relacy reported exactly that verdict (see run()).
#pragma once

namespace lfarena::relacy_check {

struct Plan {
  const char *label;
  rl::scheduler_type_e search;
  unsigned context_bound;
  rl::iteration_t iterations;
};

inline bool scale_plans(std::vector<Plan> &plans) {
  const char *env = std::getenv("LFARENA_SCALE");
  const std::string scale = env != nullptr && *env != '\0' ? env : "ci";
  if (scale == "ci") {
    plans = {{"bound2", rl::sched_bound, 2, 0}, {"random2e5", rl::sched_random, 1, 200000}};
  } else if (scale == "nightly") {
    plans = {{"bound3", rl::sched_bound, 3, 0}, {"random1e7", rl::sched_random, 1, 10000000}};
  } else {
    std::cerr << "LFARENA_SCALE must be ci or nightly, not '" << scale << "'\n";
    return false;
  }
  std::cout << "LFARENA_SCALE=" << scale << '\n';
  return true;
}

// A test type names itself with `static constexpr const char *kName`; otherwise t<index>.
template <class Test> std::string test_label([[maybe_unused]] int index) {
  if constexpr (requires { Test::kName; }) {
    return Test::kName;
  } else {
    return "t" + std::to_string(index);
  }
}

template <class Test>
bool run_one(const std::string &name, const std::string &test_label, const Plan &plan,
             rl::test_result_e &result) {
  const std::string log_path = name + "." + test_label + "." + plan.label + ".log";
  rl::test_params params;
  params.search_type = plan.search;
  params.context_bound = plan.context_bound;
  if (plan.iterations != 0) {
    params.iteration_count = plan.iterations;
  }
  bool ok = false;
  {
    std::ofstream log(log_path);
    params.output_stream = &log;
    params.progress_stream = &log;
    ok = rl::simulate<Test>(params);
  }
  result = params.test_result;
  std::cout << "relacy " << name << " [" << test_label << ", " << plan.label
            << "]: " << (ok ? "ok" : "FAILED") << ", result "
            << rl::test_result_str(params.test_result) << ", stopped at iteration "
            << params.stop_iteration << ", log " << log_path << std::endl;
  if (!ok) {
    std::ifstream in(log_path);
    std::cout << "---- " << log_path << " ----\n"
              << in.rdbuf() << "---- end of log ----" << std::endl;
  }
  return ok;
}

// run<T1, T2, ...>(name): every test type under every plan of the current scale; stops at the
// first failure. In a mutant build the verdict is decided here, not by ctest: exit 0 only if
// Relacy itself reported the seeded bug with the verdict the mutant declares
// (LFARENA_EXPECT_RESULT, CMakeLists.txt); another verdict, a crash or a clean run fails.
template <class... Tests> int run(const char *base_name) {
  std::vector<Plan> plans;
  if (!scale_plans(plans)) {
    return 2;
  }
#ifdef LFARENA_MUTANT_NAME
  const std::string name = std::string(base_name) + ".mutant." + LFARENA_MUTANT_NAME;
#else
  const std::string name = base_name;
#endif
  for (const Plan &plan : plans) {
    bool ok = true;
    int index = 0;
    rl::test_result_e result = rl::test_result_success;
    ((ok = ok && run_one<Tests>(name, test_label<Tests>(index++), plan, result)), ...);
    if (!ok) {
#ifdef LFARENA_EXPECT_RESULT
      if (result != LFARENA_EXPECT_RESULT) {
        std::cout << "MUTANT WRONG VERDICT: " << name << " must produce "
                  << rl::test_result_str(LFARENA_EXPECT_RESULT) << ", Relacy reported "
                  << rl::test_result_str(result) << std::endl;
        return 1;
      }
      std::cout << "mutant caught by " << name << " (" << plan.label
                << "): " << rl::test_result_str(result) << ", as declared" << std::endl;
      return 0;
#else
      return 1;
#endif
    }
  }
#ifdef LFARENA_EXPECT_RESULT
  std::cout << "MUTANT SURVIVED: no check of " << name << " caught the seeded bug" << std::endl;
  return 1;
#else
  return 0;
#endif
}

} // namespace lfarena::relacy_check

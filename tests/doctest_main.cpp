// One main for every doctest binary: libsodium must be initialised before any test uses it.
//
// It also refuses a run that names a test case and finds none. ctest runs each case in a process
// of its own, as `--test-case=NAME` (doctest_discover_tests), and doctest reports success when
// the filter matches nothing: a name that ctest cannot pass through whole (a ';' splits it as a
// CMake list) then passes without running. Nineteen cases ran nowhere that way, one of them
// failing, until this check.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sodium.h>

#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace {

// The exact names given with --test-case / -tc (commas escaped as "\," by the discovery), or
// none when a filter has wildcards (a person's `-tc='*snapshot*'` may match nothing on purpose).
std::set<std::string>& named_cases() {
  static std::set<std::string> names;
  return names;
}
int& named_cases_seen() {
  static int seen = 0;
  return seen;
}

bool collect_named_cases(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string_view value;
    for (const std::string_view flag : {"--test-case=", "-tc=", "--dt-test-case=", "--dt-tc="}) {
      if (arg.substr(0, flag.size()) == flag) value = arg.substr(flag.size());
    }
    if (value.empty()) continue;
    if (value.find_first_of("*?") != std::string_view::npos) return false;
    std::string name;
    for (std::size_t at = 0; at < value.size(); ++at) {
      if (value[at] == '\\' && at + 1 < value.size() && value[at + 1] == ',') {
        name += ',';
        ++at;
      } else if (value[at] == ',') {
        named_cases().insert(std::exchange(name, {}));
      } else {
        name += value[at];
      }
    }
    named_cases().insert(name);
  }
  return !named_cases().empty();
}

// Counts the named cases doctest came across, run or skipped by a decorator (a case skipped in
// one build, e.g. under UBSan, is still found).
struct NamedCaseCounter : doctest::IReporter {
  explicit NamedCaseCounter(const doctest::ContextOptions&) {}
  void note(const doctest::TestCaseData& tc) {
    if (named_cases().count(tc.m_name) != 0) ++named_cases_seen();
  }
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData& tc) override { note(tc); }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData& tc) override { note(tc); }
};
REGISTER_LISTENER("named_case_counter", 1, NamedCaseCounter);

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  const bool names_given = collect_named_cases(argc, argv);
  const int result = doctest::Context(argc, argv).run();
  if (names_given && named_cases_seen() == 0) {
    std::fprintf(stderr, "no test case has the name given (%zu asked); nothing ran\n",
                 named_cases().size());
    return result == 0 ? 1 : result;
  }
  return result;
}

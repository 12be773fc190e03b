/* C++: allocations through std::vector inlined into a constructor, and an
 * exception thrown and caught while libunwind is loaded in the process. */
#include <vector>
#include <stdexcept>
#include <cstdio>
#include <string>
namespace demo {
struct Widget { std::vector<double> data; explicit Widget(size_t n) : data(n) {} };
__attribute__((noinline)) std::vector<Widget*> build(int n) { std::vector<Widget*> v; for (int i = 0; i < n; i++) v.push_back(new Widget(1000)); return v; }
}
int main() {
  auto v = demo::build(100);
  try { throw std::runtime_error("boom"); } catch (const std::exception &e) { std::printf("caught %s\n", e.what()); }
  for (auto *w : v) delete w;
  return 0;
}

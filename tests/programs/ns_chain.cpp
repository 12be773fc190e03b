/*
 * ns_chain.cpp - functions defined inside namespaces, built by clang, which
 * puts their debug info under the namespaces (as rustc does): make()
 * calls fill(), inlined, which makes NS_N mallocs of NS_SIZE bytes, kept.
 * Reports must show fill and make at their lines.
 */
#include <cstdlib>

#define NS_N 7
#define NS_SIZE 5555

static void *keep[NS_N];

namespace outer_ns {
namespace inner_ns {

static inline __attribute__((always_inline)) void fill(int n)
{
	for (int i = 0; i < n; i++) {
		int tag = i;

		keep[i] = malloc(NS_SIZE + tag * 0); /* @site:fill */
	}
}

__attribute__((noinline)) void make()
{
	fill(NS_N); /* @site:make */
}

}  // namespace inner_ns
}  // namespace outer_ns

int main()
{
	outer_ns::inner_ns::make();
	return 0;
}

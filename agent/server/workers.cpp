#include <cstdio>
#include <string>

namespace chaos {

// Supervised workers re-executed from the agent binary (`chaos-agent worker-KIND ...`).
// Families add their entry points here.
int dispatch_worker(int argc, char** argv) {
  std::fprintf(stderr, "chaos-agent: unknown worker %s\n", argc > 1 ? argv[1] : "");
  return 2;
}

}  // namespace chaos

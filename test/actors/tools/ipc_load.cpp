// Closed-loop IPC load generator (not a test): N connections each send
// `status` requests back to back for S seconds through the ZLayer-style
// client, then print the request rate and latency percentiles. Used to
// compare overlayd with a trivial server of the same framing (design §7):
//
//   actors-ipc-load SOCKET [CONNECTIONS=8] [SECONDS=3]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ipc/client.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SOCKET [CONNECTIONS] [SECONDS]\n", argv[0]);
    return 2;
  }
  std::string sock = argv[1];
  int conns = argc > 2 ? std::atoi(argv[2]) : 8;
  double secs = argc > 3 ? std::atof(argv[3]) : 3.0;
  std::vector<std::vector<double>> lat(static_cast<size_t>(conns));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < conns; ++i)
    threads.emplace_back([&, i] {
      auto c = overlayd::ipc::client::connect(sock);
      if (!c) {
        ++failures;
        return;
      }
      auto& mine = lat[static_cast<size_t>(i)];
      while (!stop) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = c->request(overlayd::ipc::req::status{});
        auto t1 = std::chrono::steady_clock::now();
        if (!r) {
          ++failures;
          return;
        }
        mine.push_back(
          std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  stop = true;
  for (auto& t : threads)
    t.join();
  std::vector<double> all;
  for (auto& l : lat)
    all.insert(all.end(), l.begin(), l.end());
  if (all.empty() || failures > 0) {
    std::fprintf(stderr, "failed: %d connection(s) broke\n", failures.load());
    return 1;
  }
  std::sort(all.begin(), all.end());
  std::printf("connections=%d requests=%zu rate=%.0f/s p50=%.0fus "
              "p99=%.0fus max=%.0fus\n",
              conns, all.size(), static_cast<double>(all.size()) / secs,
              all[all.size() / 2], all[all.size() * 99 / 100], all.back());
  return 0;
}

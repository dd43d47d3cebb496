// Heap bytes per configured peer in the WireGuard engine (not a test):
// configures N peers (default 10,000; one endpoint and one /32 each, as
// bench/wg/peers.sh does through UAPI) and prints the growth of the malloc
// heap per peer, without the UAPI parsing and the process around it.
//
// Run: ninja -C BUILD bench/wg/wg_peer_heap_bench &&
//      BUILD/bench/wg/wg_peer_heap_bench [N]

#include "wg/engine.hpp"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace overlayd::wg;

int main(int argc, char** argv) {
  uint32_t n = argc > 1 ? static_cast<uint32_t>(std::atol(argv[1])) : 10000;
  // Keys first, so their vector is not counted.
  std::vector<key> keys;
  keys.reserve(n);
  for (uint32_t i = 0; i < n; ++i)
    keys.push_back(key::generate_private().public_from_private());
  fake_clock clk;
  engine eng{clk, engine_config{key::generate_private(), 0, 0, 1420}};
  std::size_t before = mallinfo2().uordblks;
  for (uint32_t i = 0; i < n; ++i) {
    peer_config pc;
    pc.public_key = keys[i];
    pc.endpoint = endpoint(ip_address::v4({192, 0, 2, 1}),
                           static_cast<uint16_t>(10000 + i % 50000));
    pc.persistent_keepalive = 0;
    pc.allowed_ips = {allowed_ip{
      ip_address::v4({10, static_cast<uint8_t>(i >> 16),
                      static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}),
      32}};
    if (!eng.add_or_update_peer(pc))
      return 1;
  }
  std::size_t after = mallinfo2().uordblks;
  std::printf("engine heap per configured peer (%u peers): %.0f bytes\n", n,
              static_cast<double>(after - before) / n);
  return 0;
}

#pragma once

// A frame sink for ipc_server tests: records every write to a connection,
// decoded back into response frames, with its close/keep-open flag.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "actors/socket_server.hpp"
#include "ipc/framing.hpp"
#include "ipc/json_codec.hpp"

namespace overlayd::test {

// Records what the ipc_server writes, decoded back into response frames.
struct recording_sink : actors::frame_sink {
  struct write {
    std::vector<ipc::response_frame> frames;
    actors::after_write then;
  };
  std::mutex mtx;
  std::map<actors::conn_id, std::vector<write>> writes;

  void send(actors::conn_id conn, std::string bytes,
            actors::after_write then) override {
    write w{{}, then};
    ipc::frame_decoder dec;
    dec.feed(bytes);
    for (;;) {
      auto body = dec.next();
      REQUIRE(body);
      if (!body->has_value())
        break;
      auto f = ipc::decode_frame(**body);
      REQUIRE(f);
      w.frames.push_back(std::get<ipc::response_frame>(*f));
    }
    std::lock_guard<std::mutex> guard{mtx};
    writes[conn].push_back(std::move(w));
  }

  // Ids of every frame written to `conn`, in order.
  std::vector<uint64_t> ids(actors::conn_id conn) {
    std::lock_guard<std::mutex> guard{mtx};
    std::vector<uint64_t> out;
    for (auto& w : writes[conn])
      for (auto& f : w.frames)
        out.push_back(f.id);
    return out;
  }

  /// The response of the last frame written to `conn`.
  ipc::response last(actors::conn_id conn) {
    std::lock_guard<std::mutex> guard{mtx};
    return writes.at(conn).back().frames.back().response;
  }

  /// The flag of the last write to `conn`.
  actors::after_write last_then(actors::conn_id conn) {
    std::lock_guard<std::mutex> guard{mtx};
    return writes.at(conn).back().then;
  }
};

} // namespace overlayd::test

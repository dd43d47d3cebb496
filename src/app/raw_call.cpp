#include "app/raw_call.hpp"

#include <cerrno>
#include <cstring>
#include <variant>

#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/framing.hpp"
#include "ipc/json_codec.hpp"

namespace overlayd::app {

namespace {

using fail = net::unexpected<raw_error>;

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

net::expected<ipc::response, raw_error> raw_call(const std::string& socket,
                                                 std::string_view json_text) {
  auto doc = ipc::parse_json_strict(json_text);
  if (!doc)
    return fail{{"not valid JSON: " + doc.error(), true}};
  if (!doc->is_object())
    return fail{{"the request must be a JSON object", true}};
  std::string body;
  if (doc->contains("frame"))
    body = std::string{json_text};
  else
    body = R"({"frame":"request","id":1,"request":)" + std::string{json_text}
           + "}";
  auto framed = ipc::encode_frame_bytes(body);
  if (!framed)
    return fail{{framed.error().message(), true}};

  sockaddr_un addr{};
  if (socket.size() >= sizeof(addr.sun_path))
    return fail{{"socket path too long: " + socket}};
  fd_guard s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0)
    return fail{{std::string{"socket: "} + std::strerror(errno)}};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail{{"cannot connect to " + socket + ": " + std::strerror(errno)}};
  timeval tv{30, 0};
  ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  for (size_t off = 0; off < framed->size();) {
    auto n
      = ::send(s.fd, framed->data() + off, framed->size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail{{std::string{"write: "} + std::strerror(errno)}};
    }
    off += static_cast<size_t>(n);
  }
  ipc::frame_decoder decoder;
  char buf[65536];
  for (;;) {
    auto n = ::recv(s.fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail{{std::string{"read: "} + std::strerror(errno)}};
    }
    if (n == 0)
      return fail{{"the daemon closed the connection without answering "
                   "(it could not tell which request this was)"}};
    decoder.feed({buf, static_cast<size_t>(n)});
    for (;;) {
      auto next = decoder.next();
      if (!next)
        return fail{{next.error().message()}};
      if (!next->has_value())
        break;
      auto f = ipc::decode_frame(**next);
      if (!f)
        return fail{{"undecodable reply: " + f.error().message}};
      if (auto* r = std::get_if<ipc::response_frame>(&*f))
        return r->response;
      // Events are dropped, as ZLayer's client does.
    }
  }
}

} // namespace overlayd::app

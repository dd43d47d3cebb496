// netlink_driver: pinning, moving links into and entering namespaces.

#include "drivers/netlink_driver.hpp"

#include "drivers/netlink_driver_detail.hpp"
#include "drivers/netns.hpp"
#include "drivers/netns_driver.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace overlayd::drivers {

using namespace detail;

// -- namespaces ---------------------------------------------------------------

result<std::shared_ptr<netns_handle>>
netlink_driver::pin_netns(const netns_spec& spec) {
  auto pinned = pinned_netns::open(spec);
  if (!pinned)
    return pinned.error();
  return std::shared_ptr<netns_handle>{std::move(*pinned)};
}

namespace {

/// Runs `work(socket&)` on a short-lived thread inside `ns`, over a socket
/// opened there.
template <class F>
status in_netns(const pinned_netns& ns, std::string_view op,
                std::string_view object, F&& work) {
  auto thread = netns_thread::start(
    std::const_pointer_cast<pinned_netns>(ns.shared_from_this()));
  if (!thread)
    return thread.error();
  return (*thread)->call([&]() -> status {
    auto sock = nl::socket::open(op, object);
    if (!sock)
      return sock.error();
    return work(**sock);
  });
}

} // namespace

status netlink_driver::move_link_to_netns(std::string_view link,
                                          const netns_handle& target,
                                          std::string_view new_name) {
  constexpr std::string_view op = "move_link_to_netns";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  if (auto st = validate_ifname(new_name, op); !st)
    return st;
  auto object
    = str(link) + "->" + target.spec().describe() + ":" + str(new_name);
  auto* pinned = dynamic_cast<const pinned_netns*>(&target);
  if (pinned == nullptr)
    return error{error_kind::unsupported, 0, str(op), object,
                 "namespace handle does not come from the netlink driver"};
  // Moving into a namespace whose process is gone would silently destroy
  // the link with the namespace; report it instead.
  if (!pinned->origin_alive())
    return pinned->gone_error(op, object);
  auto taken = [&] {
    return error{error_kind::already_exists, EEXIST, str(op), object,
                 "'" + str(new_name) + "' already exists in "
                   + target.spec().describe()};
  };
  return with_link(
    op, object, link, [&](nl::socket& sock, link_info& found) -> status {
      // The kernel applies IFLA_IFNAME atomically only when the link's current
      // name is taken in the target. Otherwise it moves the link under its
      // current name and renames it afterwards; if `new_name` is taken there,
      // the rename fails with EEXIST *after* the move, leaving the link
      // stranded in the target under its old name. So check the target first,
      // and undo the move if a racing creation still makes the rename fail.
      bool new_name_taken = false;
      auto probe = in_netns(*pinned, op, object, [&](nl::socket& inside) {
        auto existing = lookup(inside, new_name, op);
        if (existing) {
          new_name_taken = true;
          return status{};
        }
        if (existing.error().kind() == error_kind::not_found)
          return status{};
        return status{existing.error()};
      });
      if (!probe)
        return probe;
      if (new_name_taken)
        return taken();

      // Our own namespace, to move the link back into if the rename fails.
      int home_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (home_fd < 0)
        return error{error_kind::system, errno, str(op), object,
                     "cannot open /proc/thread-self/ns/net"};
      auto msg = nl::move_link_to_netns(found.index, pinned->fd(), new_name);
      auto st = sock.request(msg, op, object);
      if (st) {
        ::close(home_fd);
        return st;
      }
      auto still_home = lookup(sock, link, op);
      if (!still_home || still_home->index != found.index) {
        // Moved but not renamed: bring it back under its own name.
        auto back = in_netns(*pinned, op, object, [&](nl::socket& inside) {
          auto moved = lookup(inside, link, op);
          if (!moved)
            return status{moved.error()};
          auto undo = nl::move_link_to_netns(moved->index, home_fd, link);
          return inside.request(undo, op, object);
        });
        if (!back) {
          ::close(home_fd);
          return error{st.error().kind(),
                       st.error().err_no(),
                       str(op),
                       object,
                       "rename in the target failed and moving the link back "
                       "failed too ("
                         + back.error().what() + ")",
                       st.error().ext_ack()};
        }
      }
      ::close(home_fd);
      if (st.error().kind() == error_kind::already_exists) {
        auto e = taken();
        return error{e.kind(),   e.err_no(), e.operation(),
                     e.object(), e.detail(), st.error().ext_ack()};
      }
      if (is_no_device(st.error()))
        return link_not_found(op, link, st.error().ext_ack());
      return st;
    });
}

result<std::unique_ptr<link_driver>>
netlink_driver::enter_netns(std::shared_ptr<netns_handle> target) {
  constexpr std::string_view op = "enter_netns";
  auto pinned = std::dynamic_pointer_cast<pinned_netns>(target);
  if (!pinned)
    return error{error_kind::unsupported, 0, str(op),
                 target ? target->spec().describe() : "null",
                 "namespace handle does not come from the netlink driver"};
  auto session = netns_driver::start(std::move(pinned));
  if (!session)
    return session.error();
  return std::unique_ptr<link_driver>{std::move(*session)};
}

} // namespace overlayd::drivers

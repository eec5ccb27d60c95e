// NeighbourTable (cloudmeta/caller_binding.hpp) on libnl-route-3's cache manager: one netlink
// socket subscribed to the link and neighbour groups keeps libnl's caches of links, neighbours
// (ARP/NDP) and bridge forwarding entries current; after each batch of changes this file's
// watcher thread condenses them into an immutable View that metadata threads read.
#include <linux/neighbour.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "cloudmeta/caller_binding.hpp"
#include "cloudmeta/log.hpp"

namespace cloudmeta {
namespace {

// What a lookup needs, condensed from libnl's caches after each batch of changes.
struct View {
  struct Neighbour {
    std::string mac;
    int ifindex = 0;  // the device the address is reached on (a bridge, a tap, a veth)
  };
  struct Link {
    std::string name;
    bool bridge = false;
  };
  std::unordered_map<IpKey, Neighbour, IpKeyHash> by_address;
  std::map<std::pair<int, std::string>, int> learned;  // (bridge, MAC) -> port ifindex
  std::unordered_map<int, Link> links;
};

std::string mac_text(nl_addr* lladdr) {
  if (!lladdr || nl_addr_get_len(lladdr) != 6) return {};
  const auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(lladdr));
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return text;
}

std::optional<IpKey> address_of(nl_addr* dst) {
  if (!dst) return std::nullopt;
  const auto* b = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(dst));
  if (nl_addr_get_family(dst) == AF_INET && nl_addr_get_len(dst) == 4) {
    return IpKey::from_v4({b[0], b[1], b[2], b[3]});
  }
  if (nl_addr_get_family(dst) == AF_INET6 && nl_addr_get_len(dst) == 16) {
    std::array<std::uint8_t, 16> v6;
    std::memcpy(v6.data(), b, 16);
    return IpKey::from_v6(v6);
  }
  return std::nullopt;
}

void add_link(nl_object* object, void* arg) {
  auto* link = reinterpret_cast<rtnl_link*>(object);
  const char* name = rtnl_link_get_name(link);
  const char* type = rtnl_link_get_type(link);
  if (!name) return;
  static_cast<View*>(arg)->links[rtnl_link_get_ifindex(link)] =
      View::Link{name, type != nullptr && std::strcmp(type, "bridge") == 0};
}

void add_neighbour(nl_object* object, void* arg) {
  auto* view = static_cast<View*>(arg);
  auto* neighbour = reinterpret_cast<rtnl_neigh*>(object);
  const int state = rtnl_neigh_get_state(neighbour);
  std::string mac = mac_text(rtnl_neigh_get_lladdr(neighbour));
  if (mac.empty()) return;
  if (rtnl_neigh_get_family(neighbour) == AF_BRIDGE) {
    // A forwarding entry the bridge learned (or an operator added) for a port. The bridge's
    // own addresses, one per port, are "permanent" and are not guests.
    const int bridge = rtnl_neigh_get_master(neighbour);
    if (bridge <= 0 || (state & NUD_PERMANENT) != 0) return;
    view->learned[{bridge, std::move(mac)}] = rtnl_neigh_get_ifindex(neighbour);
    return;
  }
  // ARP/NDP entries that hold an answer (reachable, stale, being probed, or static).
  if ((state & (NUD_INCOMPLETE | NUD_FAILED)) != 0 || state == NUD_NONE) return;
  if (const auto address = address_of(rtnl_neigh_get_dst(neighbour))) {
    view->by_address[*address] = View::Neighbour{std::move(mac), rtnl_neigh_get_ifindex(neighbour)};
  }
}

std::runtime_error netlink_error(const char* what, int error) {
  return std::runtime_error(std::string("netlink: ") + what + ": " + nl_geterror(error));
}

}  // namespace

struct NeighbourTable::Impl {
  nl_sock* events = nullptr;  // the cache manager's subscription
  nl_sock* sync = nullptr;    // to read the tables whole again after an overrun
  nl_cache_mngr* manager = nullptr;
  nl_cache* links = nullptr;       // owned by the manager
  nl_cache* neighbours = nullptr;  // owned by the manager
  bool dirty = false;              // the watcher thread's only
  int events_fd = -1;
  // Set before the watcher reads the subscription socket, cleared once what it read is
  // published: settled() looks at the socket, then at this.
  std::atomic<bool> busy{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> changes{0};
  mutable std::mutex mutex;
  std::shared_ptr<const View> view = std::make_shared<const View>();
  std::thread watcher;

  static void on_change(nl_cache*, nl_object*, int, void* self) {
    static_cast<Impl*>(self)->dirty = true;
  }

  void publish() {
    auto next = std::make_shared<View>();
    nl_cache_foreach(links, add_link, next.get());
    nl_cache_foreach(neighbours, add_neighbour, next.get());
    {
      const std::lock_guard lock(mutex);
      view = std::move(next);
    }
    changes.fetch_add(1, std::memory_order_release);
  }

  void watch() {
    while (!stopping.load(std::memory_order_relaxed)) {
      // A bounded wait, so that the destructor's flag is seen within it.
      pollfd ready{events_fd, POLLIN, 0};
      const int polled = ::poll(&ready, 1, 200);
      if (polled <= 0) continue;
      busy.store(true);
      const int handled = nl_cache_mngr_data_ready(manager);
      if (handled < 0) {
        // Most often an overrun (more changes than the socket's buffer held): the caches may
        // have missed some, so both are read whole again.
        log_warn("neighbour_table", {{"reason", "netlink notifications lost, reading again"},
                                     {"error", std::string_view(nl_geterror(handled))}});
        if (nl_cache_refill(sync, links) < 0 || nl_cache_refill(sync, neighbours) < 0) {
          busy.store(false);
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
        dirty = true;
      }
      if (dirty) {
        dirty = false;
        publish();
      }
      busy.store(false);
    }
  }

  ~Impl() {
    if (manager) nl_cache_mngr_free(manager);
    if (events) nl_socket_free(events);
    if (sync) nl_socket_free(sync);
  }
};

NeighbourTable::NeighbourTable() : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.events = nl_socket_alloc();
  i.sync = nl_socket_alloc();
  if (!i.events || !i.sync) throw std::runtime_error("netlink: out of memory");
  if (const int e = nl_connect(i.sync, NETLINK_ROUTE); e < 0) throw netlink_error("connect", e);
  if (const int e = nl_cache_mngr_alloc(i.events, NETLINK_ROUTE, 0, &i.manager); e < 0) {
    throw netlink_error("cache manager", e);
  }
  // A burst of changes (a host booting a hundred VMs) must not overflow the default buffer.
  nl_socket_set_buffer_size(i.events, 4 << 20, 0);
  if (const int e = nl_cache_mngr_add(i.manager, "route/link", &Impl::on_change, &i, &i.links);
      e < 0) {
    throw netlink_error("link table", e);
  }
  // Every family: IPv4 and IPv6 neighbours, and the bridges' forwarding entries (AF_BRIDGE).
  if (const int e = nl_cache_alloc_name("route/neigh", &i.neighbours); e < 0) {
    throw netlink_error("neighbour table", e);
  }
  nl_cache_set_flags(i.neighbours, NL_CACHE_AF_ITER);
  if (const int e = nl_cache_mngr_add_cache(i.manager, i.neighbours, &Impl::on_change, &i);
      e < 0) {
    nl_cache_free(i.neighbours);
    i.neighbours = nullptr;
    throw netlink_error("neighbour table", e);
  }
  i.events_fd = nl_cache_mngr_get_fd(i.manager);
  i.publish();
  i.watcher = std::thread([&i] { i.watch(); });
}

NeighbourTable::~NeighbourTable() {
  impl_->stopping.store(true, std::memory_order_relaxed);
  if (impl_->watcher.joinable()) impl_->watcher.join();
}

std::optional<LinkPeer> NeighbourTable::lookup(const IpKey& peer) const {
  std::shared_ptr<const View> view;
  {
    const std::lock_guard lock(impl_->mutex);
    view = impl_->view;
  }
  const auto found = view->by_address.find(peer);
  if (found == view->by_address.end()) return std::nullopt;
  LinkPeer seen{found->second.mac, {}};
  const auto link = view->links.find(found->second.ifindex);
  if (link == view->links.end()) return seen;
  if (!link->second.bridge) {
    seen.port = link->second.name;  // a tap or veth holds the address itself
    return seen;
  }
  const auto port = view->learned.find({found->second.ifindex, seen.mac});
  if (port == view->learned.end()) return seen;
  if (const auto name = view->links.find(port->second); name != view->links.end()) {
    seen.port = name->second.name;
  }
  return seen;
}

bool NeighbourTable::settled() const {
  // The socket first: a message the watcher took from it was taken after `busy` was set.
  pollfd pending{impl_->events_fd, POLLIN, 0};
  if (::poll(&pending, 1, 0) != 0) return false;
  return !impl_->busy.load();
}

std::uint64_t NeighbourTable::changes() const {
  return impl_->changes.load(std::memory_order_acquire);
}

}  // namespace cloudmeta

#include "http/accepted_socket.hpp"

#include <unistd.h>

namespace cloudmeta::http_server {
namespace {

#if defined(BOOST_ASIO_HAS_IOCP) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) || \
    defined(BOOST_ASIO_WINDOWS_RUNTIME)
#error "accepted_socket.cpp is written for Asio's reactor (epoll) backend"
#endif

// The standard way to reach a protected member of a base without undefined behaviour: a pointer
// to member taken through a derived class applies to any tcp::socket.
struct StateAccess : tcp::socket {
  static auto& state_of(tcp::socket& socket) {
    return (socket.*(&StateAccess::impl_)).get_implementation().state_;
  }
};

}  // namespace

tcp::socket adopt_accepted(const net::any_io_executor& executor, const tcp& protocol, int fd,
                           beast::error_code& ec) {
  tcp::socket socket(executor);
  socket.assign(protocol, fd, ec);  // registers with epoll: the one call this does
  if (ec) {
    ::close(fd);
    return socket;
  }
  namespace ops = net::detail::socket_ops;
  auto& state = StateAccess::state_of(socket);
  state = static_cast<ops::state_type>((state | ops::internal_non_blocking) & ~ops::possible_dup);
  return socket;
}

}  // namespace cloudmeta::http_server

// Turning a descriptor from accept4() into an Asio socket without the two system calls Asio
// would spend on it. Asio's own accept takes a blocking descriptor, so it sets O_NONBLOCK with an
// ioctl() before the first read, and it marks every socket it did not create "possibly
// dup()ed", so closing it costs an epoll_ctl(DEL) besides the close(). With accept4(SOCK_NONBLOCK)
// the descriptor is non-blocking from birth and is nobody's dup, so both calls are waste:
// 2 of the 8 system calls of a connection-per-request (strace, docs/benchmarks.md).
//
// It tells Asio so by setting two bits of the socket's internal state. That state is Asio's
// detail, not its API: this is written against Boost 1.81's reactor (the one Debian 12 ships);
// another I/O backend (io_uring) or a changed layout fails to compile here, and
// tests/unit/listener_test.cpp checks the behaviour (non-blocking, reads, writes, close).
#pragma once

#include "cloudmeta/asio.hpp"

namespace cloudmeta::http_server {

// `fd` must come from accept4(..., SOCK_NONBLOCK | SOCK_CLOEXEC) and not be dup()ed. On failure
// (the reactor refuses it) the descriptor is closed and `ec` is set.
tcp::socket adopt_accepted(const net::any_io_executor& executor, const tcp& protocol, int fd,
                           beast::error_code& ec);

}  // namespace cloudmeta::http_server

// A steady stream of admin writes beside the read load ("writes don't hurt reads",
// docs/benchmarks.md): PATCH one instance's instance_type on the admin API at a fixed rate,
// alternating two values, and after each write read meta-data/instance-type from the instance's
// own address: the write must be visible on the very next metadata request.
//
// It runs as one more coroutine on the load generator's own thread. Written in Python, as it
// first was, it cost ~370 µs of the client's core per write: on a 2-core machine that stole the
// core the read load is measured from, and the reads' tail showed the writer, not the server.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio.hpp>

#include "response_reader.hpp"

namespace cloudmeta::bench {

struct AdminWriteOptions {
  double rate = 0;  // writes per second; 0 = none
  std::uint16_t admin_port = 0;
  std::string token;  // an admin API token (from the environment, never the command line)
  std::string instance_id = "i-0123456789abcdef0";
  std::string instance_ip = "127.0.0.1";  // where the read-back comes from
};

struct AdminWriteResult {
  std::uint64_t writes = 0;
  std::uint64_t errors = 0;       // a failed or refused write, or a failed read-back
  std::uint64_t stale_reads = 0;  // the read right after a write did not see it
};

class AdminWriter {
 public:
  using Clock = std::chrono::steady_clock;

  AdminWriter(const AdminWriteOptions& options, net::ip::address server,
              std::uint16_t metadata_port)
      : o_(options), server_(server), metadata_port_(metadata_port) {}

  // Writes from `start` until `end`, one every 1/rate seconds.
  net::awaitable<void> run(Clock::time_point start, Clock::time_point end) {
    auto executor = co_await net::this_coro::executor;
    net::steady_timer timer(executor);
    net::ip::tcp::socket admin(executor), metadata(executor);
    ResponseReader admin_reader, metadata_reader;
    HttpResponse response;
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / o_.rate));
    for (auto due = start; due < end; due += interval) {
      timer.expires_at(due);
      boost::system::error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      const char* value = result_.writes % 2 == 0 ? "t3.micro" : "t3.small";
      ++result_.writes;
      bool ok = co_await exchange(admin, admin_reader, {}, patch_request(value), response) &&
                response.status == 200;
      ok = ok && co_await exchange(metadata, metadata_reader, net::ip::make_address(o_.instance_ip),
                                   read_request(), response) &&
           response.status == 200;
      if (!ok) {
        ++result_.errors;
      } else if (response.body != value) {
        ++result_.stale_reads;
      }
    }
  }

  const AdminWriteResult& result() const { return result_; }

 private:
  std::string patch_request(const char* value) const {
    const std::string body = std::string("{\"instance_type\":\"") + value + "\"}";
    return "PATCH /api/v1/instances/" + o_.instance_id +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + o_.token +
           "\r\nContent-Type: application/merge-patch+json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  static std::string read_request() {
    return "GET /latest/meta-data/instance-type HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
  }

  // One request on a keep-alive connection, (re)connecting first if needed; `source` empty: the
  // kernel picks the source address.
  net::awaitable<bool> exchange(net::ip::tcp::socket& socket, ResponseReader& reader,
                                std::optional<net::ip::address> source, const std::string& request,
                                HttpResponse& response) {
    boost::system::error_code ec;
    if (!socket.is_open()) {
      const net::ip::tcp::endpoint to(server_, source ? metadata_port_ : o_.admin_port);
      socket.open(to.protocol(), ec);
      if (!ec && source) socket.bind({*source, 0}, ec);
      if (!ec) co_await socket.async_connect(to, net::redirect_error(net::use_awaitable, ec));
      reader.reset();
      if (ec) {
        socket.close(ec);
        co_return false;
      }
    }
    co_await net::async_write(socket, net::buffer(request),
                              net::redirect_error(net::use_awaitable, ec));
    const bool ok = !ec && co_await reader.read(socket, response);
    if (!ok || response.close) socket.close(ec);
    co_return ok;
  }

 private:
  const AdminWriteOptions& o_;
  net::ip::address server_;
  std::uint16_t metadata_port_;
  AdminWriteResult result_;
};

}  // namespace cloudmeta::bench

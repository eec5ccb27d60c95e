// cloudmeta_loadgen: the metadata surface's load generator (docs/benchmarks.md).
//
//   run      drive GETs (IMDSv1), token-carrying GETs (IMDSv2) or token PUTs at a server, from
//            many 127.0.0.0/8 source addresses, keep-alive or a new connection per request,
//            closed-loop (N connections as fast as they go) or open-loop at a fixed rate
//            (latency counted from when each request was due, so a stalled server cannot hide
//            its queue: no coordinated omission); prints req/s, latency percentiles, errors and,
//            given the server's pid, its CPU time per request over the same window.
//   records  print N instance records as JSON lines for `cloudmeta import`, one per source
//            address `run --sources N` uses.
//
// The last line of `run` is `RESULT key=value ...` for scripts (bench/run.sh).
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

#include "admin_writes.hpp"
#include "latency_histogram.hpp"
#include "response_reader.hpp"

namespace cloudmeta::bench {
namespace {

using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

enum class Kind { kV1, kV2, kTokenPut };

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  std::string path = "/latest/meta-data/instance-id";
  std::string kind = "v1";
  unsigned connections = 50;
  double rate = 0;  // requests/s in total; 0 = closed loop
  double duration = 10;
  double warmup = 1;
  unsigned requests_per_connection = 0;  // 0 = keep-alive for the whole run
  unsigned sources = 0;                  // 0 = let the kernel choose the source address
  std::string first_source = "127.16.0.0";
  unsigned idle = 0;  // extra connections opened first and held idle through the run
  int expect_status = 200;
  int server_pid = 0;
  unsigned threads = 1;
  bool quiet = false;
  AdminWriteOptions writes;
};

Kind kind_of(const std::string& text) {
  if (text == "v2") return Kind::kV2;
  if (text == "put") return Kind::kTokenPut;
  return Kind::kV1;
}

std::string ttl_header() { return "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"; }

std::string request_text(const Options& o, Kind kind, const std::string& token) {
  std::string r;
  if (kind == Kind::kTokenPut) {
    r = "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n" + ttl_header();
  } else {
    r = "GET " + o.path + " HTTP/1.1\r\nHost: 169.254.169.254\r\n";
    if (!token.empty()) r += "X-aws-ec2-metadata-token: " + token + "\r\n";
  }
  // One request per connection: say so, as wrk -H 'Connection: close' does, so that the server
  // closes first and the TIME_WAIT lands on its side as it would with real clients.
  if (o.requests_per_connection == 1) r += "Connection: close\r\n";
  r += "\r\n";
  return r;
}

// utime + stime of the whole process (every thread), in seconds.
double process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close_paren = text.rfind(')');  // the command name may contain spaces
  if (close_paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(close_paren + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // fields 3..13
  long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Window {
  Clock::time_point start;  // when the first request is due
  Clock::time_point begin;  // end of warm-up: counting starts
  Clock::time_point end;    // counting stops, connections wind down
};

// One io_context and its connections' results; merged after the run.
struct Lane {
  net::io_context io{1};
  LatencyHistogram latency;
  std::uint64_t completed = 0;   // responses with the expected status, inside the window
  std::uint64_t unexpected = 0;  // other statuses inside the window
  std::uint64_t errors = 0;      // connect/read/write failures and unframed responses
  std::uint64_t connects = 0;
};

class Generator {
 public:
  Generator(const Options& options, std::vector<std::string> requests,
            std::vector<tcp::endpoint> sources, tcp::endpoint server)
      : o_(options),
        requests_(std::move(requests)),
        sources_(std::move(sources)),
        server_(server) {}

  net::awaitable<void> connection(Lane& lane, unsigned index, Window window) {
    net::steady_timer timer(co_await net::this_coro::executor);
    tcp::socket socket(lane.io);
    ResponseReader reader;
    HttpResponse response;
    std::uint64_t seq = 0;
    unsigned on_this_connection = 0;
    std::size_t source = index;
    const double interval_s = o_.rate > 0 ? o_.connections / o_.rate : 0;
    const double offset_s = o_.rate > 0 ? index / o_.rate : 0;

    for (;;) {
      Clock::time_point due = Clock::now();
      if (o_.rate > 0) {
        due = window.start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(offset_s + interval_s * seq++));
        if (due >= window.end) break;
        if (due > Clock::now()) {
          timer.expires_at(due);
          boost::system::error_code ignored;
          co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
        }
      } else if (due >= window.end) {
        break;
      }

      const std::string& request = requests_[requests_.size() == 1 ? 0 : source % requests_.size()];
      bool ok = true;
      if (!socket.is_open()) {
        ok = co_await connect(socket, source);
        ++lane.connects;
        reader.reset();
        on_this_connection = 0;
      }
      boost::system::error_code ec;
      if (ok) {
        co_await net::async_write(socket, net::buffer(request),
                                  net::redirect_error(net::use_awaitable, ec));
        ok = !ec && co_await reader.read(socket, response);
      }
      const auto finished = Clock::now();
      if (finished >= window.begin && finished < window.end) {
        if (!ok) {
          ++lane.errors;
        } else if (response.status == o_.expect_status) {
          ++lane.completed;
          lane.latency.record(static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(finished - due).count()));
        } else {
          ++lane.unexpected;
        }
      }
      ++on_this_connection;
      const bool reconnect = !ok || response.close ||
                             (o_.requests_per_connection != 0 &&
                              on_this_connection >= o_.requests_per_connection);
      if (reconnect) {
        if (ok) {
          // The response is complete: close with a reset, so that no TIME-WAIT socket is left on
          // either side. At ~17,000 connections a second the server's TIME-WAIT table (which the
          // server, closing first after "Connection: close", would fill) reaches the kernel's
          // tcp_max_tw_buckets within seconds, after which new connections stall on SYN
          // retransmits and the next run measures the kernel instead of the server.
          socket.set_option(net::socket_base::linger(true, 0), ec);
        }
        socket.close(ec);
        source += o_.connections;  // the next connection comes from another address
        if (!ok) {                 // a refusing server must not turn the client into a spin loop
          timer.expires_after(std::chrono::milliseconds(1));
          co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
      }
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  net::awaitable<bool> connect(tcp::socket& socket, std::size_t source) {
    boost::system::error_code ec;
    socket.open(server_.protocol(), ec);
    if (ec) co_return false;
    if (!sources_.empty()) {
      // Leave the port to connect(), which picks it per 4-tuple: without this, bind() reserves
      // an ephemeral port per source address for every destination and runs out much sooner.
      const int one = 1;
      ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      socket.bind(sources_[source % sources_.size()], ec);
      if (ec) co_return false;
    }
    socket.set_option(tcp::no_delay(true), ec);
    co_await socket.async_connect(server_, net::redirect_error(net::use_awaitable, ec));
    co_return !ec;
  }

 private:
  const Options& o_;
  std::vector<std::string> requests_;
  std::vector<tcp::endpoint> sources_;
  tcp::endpoint server_;
};

// IMDSv2: one token per source address (tokens are bound to the caller's address), fetched
// before the measured run so that every measured GET carries a token the server verifies.
std::vector<std::string> fetch_tokens(const Options& o, const std::vector<tcp::endpoint>& sources,
                                      const tcp::endpoint& server) {
  net::io_context io;
  const std::size_t n = sources.empty() ? 1 : sources.size();
  std::vector<std::string> tokens(n);
  std::size_t failures = 0;
  Options put_options = o;
  put_options.requests_per_connection = 1;
  const std::string put = request_text(put_options, Kind::kTokenPut, "");
  Generator generator(o, {put}, sources, server);
  std::atomic<std::size_t> next{0};
  auto fetch = [&]() -> net::awaitable<void> {
    tcp::socket socket(io);
    ResponseReader reader;
    HttpResponse response;
    for (std::size_t i = next++; i < n; i = next++) {
      boost::system::error_code ec;
      bool ok = co_await generator.connect(socket, i);
      if (ok) {
        co_await net::async_write(socket, net::buffer(put),
                                  net::redirect_error(net::use_awaitable, ec));
        ok = !ec && co_await reader.read(socket, response) && response.status == 200;
      }
      if (ok) {
        tokens[i] = std::string(response.body);
      } else {
        ++failures;
      }
      socket.close(ec);
      reader.reset();
    }
  };
  for (unsigned c = 0; c < std::min<std::size_t>(32, n); ++c) {
    net::co_spawn(io, fetch(), net::detached);
  }
  io.run();
  if (failures > 0) {
    throw std::runtime_error("IMDSv2: " + std::to_string(failures) + " of " + std::to_string(n) +
                             " token PUTs failed (is every source address a registered instance?)");
  }
  return tokens;
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::vector<tcp::endpoint> source_endpoints(const Options& o) {
  std::vector<tcp::endpoint> out;
  if (o.sources == 0) return out;
  const auto first = net::ip::make_address_v4(o.first_source).to_uint();
  out.reserve(o.sources);
  for (unsigned i = 0; i < o.sources; ++i) out.emplace_back(net::ip::address_v4(first + i), 0);
  return out;
}

// Idle connections held open through the run (a server must keep serving the active ones);
// returns how many the server still had open at the end.
class IdleConnections {
 public:
  IdleConnections(net::io_context& io, unsigned count, const std::vector<tcp::endpoint>& sources,
                  const tcp::endpoint& server, const std::string& request) {
    for (unsigned i = 0; i < count; ++i) {
      tcp::socket s(io);
      boost::system::error_code ec;
      s.open(server.protocol(), ec);
      if (!sources.empty()) {
        const int one = 1;
        ::setsockopt(s.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        s.bind(sources[i % sources.size()], ec);
      }
      if (!ec) s.connect(server, ec);
      // One request first, as an SDK's pooled connection has made: a connection that never sends
      // one is a slow client, which the server closes after IMDS_READ_TIMEOUT_MS.
      if (!ec) net::write(s, net::buffer(request), ec);
      if (!ec) read_response(s, ec);
      if (!ec) sockets_.push_back(std::move(s));
    }
  }
  std::size_t opened() const { return sockets_.size(); }

  // Blocking: reads until the header's end and Content-Length body bytes have arrived.
  static void read_response(tcp::socket& s, boost::system::error_code& ec) {
    std::string got;
    char chunk[1024];
    for (;;) {
      const std::size_t n = s.read_some(net::buffer(chunk), ec);
      if (ec) return;
      got.append(chunk, n);
      const auto end = got.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const auto at = got.find("Content-Length: ");
      const std::size_t length = at == std::string::npos ? 0 : std::stoul(got.substr(at + 16));
      if (got.size() >= end + 4 + length) return;
    }
  }
  // A peek that reads end-of-file means the server closed it; would-block means still open.
  std::size_t still_open() {
    std::size_t n = 0;
    for (auto& s : sockets_) {
      char c;
      const ssize_t r = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++n;
    }
    return n;
  }

 private:
  std::vector<tcp::socket> sockets_;
};

int run(const Options& o) {
  raise_fd_limit();
  const Kind kind = kind_of(o.kind);
  const tcp::endpoint server(net::ip::make_address(o.host), o.port);
  const auto sources = source_endpoints(o);

  std::vector<std::string> requests;
  if (kind == Kind::kV2) {
    for (const auto& token : fetch_tokens(o, sources, server)) {
      requests.push_back(request_text(o, kind, token));
    }
  } else {
    requests.push_back(request_text(o, kind, ""));
  }

  net::io_context idle_io;
  IdleConnections idle(idle_io, o.idle, sources, server, requests.front());

  Generator generator(o, std::move(requests), sources, server);
  std::vector<std::unique_ptr<Lane>> lanes;
  for (unsigned t = 0; t < std::max(1u, o.threads); ++t) lanes.push_back(std::make_unique<Lane>());

  Window window;
  window.start = Clock::now() + std::chrono::milliseconds(20);
  window.begin = window.start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.warmup));
  window.end = window.begin + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(o.duration));
  for (unsigned c = 0; c < o.connections; ++c) {
    Lane& lane = *lanes[c % lanes.size()];
    net::co_spawn(lane.io, generator.connection(lane, c, window), net::detached);
  }
  // Admin writes through the counted window, from the first lane's thread.
  AdminWriter writer(o.writes, server.address(), o.port);
  if (o.writes.rate > 0) {
    net::co_spawn(lanes[0]->io, writer.run(window.begin, window.end), net::detached);
  }

  // The server's CPU is sampled at the edges of the counting window by a thread of its own.
  double cpu_begin = 0, cpu_end = 0;
  std::thread sampler([&] {
    if (o.server_pid <= 0) return;
    std::this_thread::sleep_until(window.begin);
    cpu_begin = process_cpu_seconds(o.server_pid);
    std::this_thread::sleep_until(window.end);
    cpu_end = process_cpu_seconds(o.server_pid);
  });
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < lanes.size(); ++t) {
    threads.emplace_back([&lane = *lanes[t]] { lane.io.run(); });
  }
  lanes[0]->io.run();
  for (auto& t : threads) t.join();
  sampler.join();

  Lane total;
  for (const auto& lane : lanes) {
    total.latency.merge(lane->latency);
    total.completed += lane->completed;
    total.unexpected += lane->unexpected;
    total.errors += lane->errors;
    total.connects += lane->connects;
  }
  const double seconds = o.duration;
  const double rps = static_cast<double>(total.completed) / seconds;
  const auto us = [&](double q) { return static_cast<double>(total.latency.percentile(q)) / 1e3; };
  const double cpu = cpu_end - cpu_begin;
  const double cpu_us_per_request =
      o.server_pid > 0 && total.completed > 0 ? cpu * 1e6 / static_cast<double>(total.completed)
                                              : 0;
  const std::size_t idle_left = idle.still_open();

  if (!o.quiet) {
    std::printf("%s %s, %u connections%s, %s, %.1f s (+%.1f s warm-up), %u source addresses\n",
                o.kind.c_str(), kind == Kind::kTokenPut ? "/latest/api/token" : o.path.c_str(),
                o.connections,
                o.requests_per_connection == 1 ? " (new connection per request)"
                : o.requests_per_connection ? " (reconnecting)"
                                            : " (keep-alive)",
                o.rate > 0 ? ("open loop at " + std::to_string(static_cast<long>(o.rate)) +
                              " req/s").c_str()
                           : "closed loop",
                o.duration, o.warmup, std::max(1u, o.sources));
    std::printf("  %.0f req/s; latency p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, "
                "max %.1f us\n",
                rps, us(0.50), us(0.90), us(0.99), us(0.999),
                static_cast<double>(total.latency.max()) / 1e3);
    std::printf("  errors %llu, unexpected status %llu, connections opened %llu\n",
                static_cast<unsigned long long>(total.errors),
                static_cast<unsigned long long>(total.unexpected),
                static_cast<unsigned long long>(total.connects));
    if (o.server_pid > 0) {
      std::printf("  server CPU %.2f s over the window (%.0f %% of a core): %.2f us per request\n",
                  cpu, 100 * cpu / seconds, cpu_us_per_request);
    }
    if (o.writes.rate > 0) {
      std::printf("  admin writes: %llu, errors %llu, stale reads after a write %llu\n",
                  static_cast<unsigned long long>(writer.result().writes),
                  static_cast<unsigned long long>(writer.result().errors),
                  static_cast<unsigned long long>(writer.result().stale_reads));
    }
    if (o.idle > 0) {
      std::printf("  idle connections: %zu of %u opened, %zu still open at the end\n",
                  idle.opened(), o.idle, idle_left);
    }
  }
  std::printf("RESULT requests=%llu rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
              "max_us=%.1f errors=%llu unexpected=%llu connects=%llu server_cpu_s=%.3f "
              "cpu_us_per_req=%.3f idle_opened=%zu idle_open=%zu writes=%llu write_errors=%llu "
              "stale_reads=%llu\n",
              static_cast<unsigned long long>(total.completed), rps, us(0.50), us(0.90), us(0.99),
              us(0.999), static_cast<double>(total.latency.max()) / 1e3,
              static_cast<unsigned long long>(total.errors),
              static_cast<unsigned long long>(total.unexpected),
              static_cast<unsigned long long>(total.connects), cpu, cpu_us_per_request,
              idle.opened(), idle_left, static_cast<unsigned long long>(writer.result().writes),
              static_cast<unsigned long long>(writer.result().errors),
              static_cast<unsigned long long>(writer.result().stale_reads));
  return total.completed > 0 ? 0 : 1;
}

// Instance records for `cloudmeta import`: instance i has address first+i and id i-<17 hex>.
// With `labels` (the admin listing's benchmark, bench/admin_scale.py), instance i also has the
// host name vm-<i>, a Name tag equal to it, env=env-<i mod 10> (a tag a tenth of the fleet
// shares) and, for every 10,000th instance, canary=yes (a rare one).
int records(unsigned count, const std::string& first, const std::string& extra_ip,
            const std::string& http_tokens, bool labels) {
  const auto base = net::ip::make_address_v4(first).to_uint();
  std::string line;
  char id[32];
  const auto emit = [&](const std::string& instance_id, const std::string& ip, unsigned n) {
    line = "{\"instance_id\":\"" + instance_id + "\",\"ip\":\"" + ip +
           "\",\"metadata_options\":{\"http_tokens\":\"" + http_tokens + "\"}";
    if (labels) {
      const std::string name = "vm-" + std::to_string(n);
      line += ",\"hostname\":\"" + name + "\",\"tags\":{\"Name\":\"" + name +
              "\",\"env\":\"env-" + std::to_string(n % 10) + "\"";
      if (n % 10000 == 0) line += ",\"canary\":\"yes\"";
      line += "}";
    }
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  };
  // A fixed, well-known instance for clients that cannot pick their source address (wrk).
  if (!extra_ip.empty()) emit("i-0123456789abcdef0", extra_ip, 0);
  for (unsigned i = 0; i < count; ++i) {
    std::snprintf(id, sizeof id, "i-%017x", i + 1);
    emit(id, net::ip::address_v4(base + i).to_string(), i + 1);
  }
  return 0;
}

}  // namespace
}  // namespace cloudmeta::bench

int main(int argc, char** argv) {
  using namespace cloudmeta::bench;
  CLI::App app{"cloudmeta's load generator (docs/benchmarks.md)"};
  app.require_subcommand(1);
  Options o;
  auto* run_cmd = app.add_subcommand("run", "Drive load at a server, report req/s and latency");
  run_cmd->add_option("--host", o.host, "Server address");
  run_cmd->add_option("--port", o.port, "Server port")->required();
  run_cmd->add_option("--path", o.path, "GET path (v1, v2)");
  run_cmd->add_option("--kind", o.kind, "v1: plain GETs; v2: GETs with a token; put: token PUTs")
      ->check(CLI::IsMember({"v1", "v2", "put"}));
  run_cmd->add_option("-c,--connections", o.connections, "Concurrent connections")
      ->check(CLI::Range(1u, 100000u));
  run_cmd->add_option("--rate", o.rate, "Open loop: requests per second in total (0: closed loop)");
  run_cmd->add_option("-d,--duration", o.duration, "Counted seconds")->check(CLI::PositiveNumber);
  run_cmd->add_option("--warmup", o.warmup, "Uncounted seconds first")
      ->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--requests-per-connection", o.requests_per_connection,
                      "1: a new connection per request; 0: keep-alive for the whole run");
  run_cmd->add_option("--sources", o.sources,
                      "Bind to this many addresses from --first-source (0: don't bind)");
  run_cmd->add_option("--first-source", o.first_source, "First source address (127.0.0.0/8)");
  run_cmd->add_option("--idle", o.idle, "Idle connections held open through the run");
  run_cmd->add_option("--expect-status", o.expect_status, "The status that counts as success");
  run_cmd->add_option("--server-pid", o.server_pid, "Report this process's CPU time per request");
  run_cmd->add_option("--threads", o.threads, "Client threads (the comparison runs use 1)");
  run_cmd->add_flag("--quiet", o.quiet, "Only the RESULT line");
  run_cmd->add_option("--admin-writes", o.writes.rate,
                      "Also PATCH an instance this many times a second on the admin API "
                      "(token in LOADGEN_ADMIN_TOKEN) and read each write back");
  run_cmd->add_option("--admin-port", o.writes.admin_port, "The admin API's port");
  run_cmd->add_option("--write-instance", o.writes.instance_id, "The instance the writes change");
  run_cmd->add_option("--write-instance-ip", o.writes.instance_ip,
                      "That instance's address (the read-back's source)");

  unsigned count = 0;
  std::string first = "127.16.0.0", extra_ip, http_tokens = "optional";
  auto* records_cmd =
      app.add_subcommand("records", "Print instance records as JSON lines for cloudmeta import");
  records_cmd->add_option("--count", count, "Instances at consecutive addresses")->required();
  records_cmd->add_option("--first-source", first, "The first instance's address");
  records_cmd->add_option("--extra-ip", extra_ip, "Also i-0123456789abcdef0 at this address");
  records_cmd->add_option("--http-tokens", http_tokens, "optional or required")
      ->check(CLI::IsMember({"optional", "required"}));
  bool labels = false;
  records_cmd->add_flag("--labels", labels,
                        "Also a host name and tags per instance (the admin listing's benchmark)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (*records_cmd) return records(count, first, extra_ip, http_tokens, labels);
    if (o.writes.rate > 0) {
      const char* token = std::getenv("LOADGEN_ADMIN_TOKEN");
      if (token == nullptr || *token == '\0' || o.writes.admin_port == 0) {
        std::fprintf(stderr, "cloudmeta_loadgen: --admin-writes needs --admin-port and "
                             "LOADGEN_ADMIN_TOKEN\n");
        return 2;
      }
      o.writes.token = token;
    }
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cloudmeta_loadgen: %s\n", e.what());
    return 2;
  }
}

#include "pg_listener.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "cloudmeta/log.hpp"
#include "pg_handle.hpp"

namespace cloudmeta::store {
namespace {

using namespace std::chrono_literals;
using Descriptor = net::posix::stream_descriptor;

// The channel PostgresStore's instance writes pg_notify() on.
constexpr const char* kListen = "LISTEN cloudmeta_instances";

constexpr auto kFirstBackoff = 100ms;
constexpr auto kMaxBackoff = 5s;

// libpq's messages are multi-line; one line reads better in a log.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::string out;
  for (char c : text) {
    if (c == '\t') continue;  // libpq indents continuation lines
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string password_in(const std::string& url) {
  char* error = nullptr;
  PgConninfoHandle options(PQconninfoParse(url.c_str(), &error));
  PQfreemem(error);
  if (!options) return {};
  for (auto* o = options.get(); o->keyword; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val) return o->val;
  }
  return {};
}

// Unsolicited messages ("terminating connection due to administrator command") would otherwise
// go to stderr; the loss they announce is logged by the listener itself.
void ignore_notice(void*, const char*) {}

}  // namespace

struct PgListener::State : std::enable_shared_from_this<PgListener::State> {
  State(std::string database_url, std::chrono::milliseconds bound, net::any_io_executor executor,
        ChangeCallback callback)
      : url(std::move(database_url)),
        timeout(std::max(bound, std::chrono::milliseconds(1))),
        password(password_in(url)),
        on_change(std::move(callback)),
        socket(executor),
        timer(executor),
        deadline(executor) {}
  ~State() { close(); }

  // Asio waits on a duplicate of libpq's socket, its own to close: libpq closes its socket by
  // itself when the connection drops (inside PQconsumeInput), and the number can be reused at
  // once by another thread's accept(); taking that number out of epoll afterwards would act on
  // the other socket (ThreadSanitizer saw this release race a metadata connection's close).
  void close() {
    close_descriptor();
    conn.reset();
  }
  void close_descriptor() {
    beast::error_code ignored;
    if (socket.is_open()) socket.close(ignored);
  }

  std::string error() const {
    if (timed_out) {
      return "no connection within " + std::to_string(timeout.count()) +
             " ms (DATABASE_TIMEOUT_MS)";
    }
    std::string text = conn ? one_line(PQerrorMessage(conn.get())) : "out of memory";
    if (!password.empty()) {
      for (auto at = text.find(password); at != std::string::npos; at = text.find(password, at)) {
        text.replace(at, password.size(), "***");
      }
    }
    return text.empty() ? "connection lost" : text;
  }

  // Waits until libpq's socket is ready; false when stopped, timed out or the socket failed.
  net::awaitable<bool> wait(Descriptor::wait_type type) {
    const int fd = PQsocket(conn.get());
    if (fd < 0) co_return false;
    beast::error_code ec;
    if (!socket.is_open()) {
      const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (own < 0) co_return false;
      socket.assign(own, ec);
      if (ec) {
        ::close(own);
        co_return false;
      }
    }
    co_await socket.async_wait(type, net::redirect_error(net::use_awaitable, ec));
    co_return !ec && !stopped;
  }

  net::awaitable<bool> connect() {
    // Keywords before "dbname" are defaults the URL overrides (expand_dbname). TCP keepalives
    // notice a peer that vanished without closing, which an idle LISTEN would never see; as the
    // store's connections, within a few DATABASE_TIMEOUT_MS.
    const std::string idle = std::to_string(std::max<long long>(1, (timeout.count() + 999) / 1000));
    const std::string user_timeout = std::to_string(timeout.count());
    const char* keywords[] = {"application_name", "keepalives",       "keepalives_idle",
                              "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                              "dbname",           nullptr};
    const char* values[] = {"cloudmeta-listener", "1", idle.c_str(), "1", "3",
                            user_timeout.c_str(), url.c_str(), nullptr};
    conn.reset(PQconnectStartParams(keywords, values, 1));
    if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) co_return false;
    PQsetNoticeProcessor(conn.get(), ignore_notice, nullptr);

    // A deadline that fired just as the attempt finished must not cancel the next one.
    const unsigned attempt = ++attempts;
    timed_out = false;
    // PQconnectPoll ignores connect_timeout (only the blocking calls honour it), so each attempt
    // is bounded here; an unroutable host would otherwise hold it for the kernel's minutes-long
    // SYN retries.
    deadline.expires_after(timeout);
    deadline.async_wait([self = shared_from_this(), attempt](beast::error_code ec) {
      if (ec || self->attempts != attempt) return;
      self->timed_out = true;
      beast::error_code ignored;
      if (self->socket.is_open()) self->socket.cancel(ignored);
    });
    auto status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
      const auto type = status == PGRES_POLLING_READING ? Descriptor::wait_read
                                                        : Descriptor::wait_write;
      if (!co_await wait(type) || timed_out) break;
      // libpq may close this socket and open another (the next address of a host name): wait
      // on a fresh duplicate every round.
      close_descriptor();
      status = PQconnectPoll(conn.get());
    }
    ++attempts;
    deadline.cancel();
    if (status != PGRES_POLLING_OK || stopped) co_return false;
    if (PQsetnonblocking(conn.get(), 1) != 0) co_return false;

    if (!PQsendQuery(conn.get(), kListen)) co_return false;
    for (;;) {
      const int flushed = PQflush(conn.get());
      if (flushed < 0) co_return false;
      if (flushed == 0) break;
      if (!co_await wait(Descriptor::wait_write)) co_return false;
    }
    bool listening = false;
    for (;;) {
      while (PQisBusy(conn.get())) {
        if (!co_await wait(Descriptor::wait_read)) co_return false;
        if (!PQconsumeInput(conn.get())) co_return false;
      }
      PgResultHandle result(PQgetResult(conn.get()));
      if (!result) break;
      listening = PQresultStatus(result.get()) == PGRES_COMMAND_OK;
    }
    co_return listening;
  }

  // Delivers notifications until the connection is lost or the listener stopped.
  net::awaitable<void> receive() {
    for (;;) {
      bool changed = false;
      while (PGnotify* n = PQnotifies(conn.get())) {
        PQfreemem(n);
        changed = true;
      }
      // Several notifications read at once need one refresh: it reads the latest revision.
      if (changed) on_change();
      if (stopped || !co_await wait(Descriptor::wait_read)) co_return;
      if (!PQconsumeInput(conn.get()) || PQstatus(conn.get()) != CONNECTION_OK) co_return;
    }
  }

  std::string url;
  std::chrono::milliseconds timeout;  // DATABASE_TIMEOUT_MS: one connection attempt
  std::string password;  // kept only to scrub it from libpq's messages
  ChangeCallback on_change;
  PgConnHandle conn;
  Descriptor socket;
  net::steady_timer timer;     // backoff between attempts
  net::steady_timer deadline;  // bounds one connection attempt
  unsigned attempts = 0;
  bool timed_out = false;
  bool stopped = false;
};

namespace {

net::awaitable<void> run(std::shared_ptr<PgListener::State> s) {
  auto backoff = kFirstBackoff;
  bool lost = false;  // logged once per outage, not once per retry
  while (!s->stopped) {
    if (co_await s->connect()) {
      log_info(lost ? "change_feed_restored" : "change_feed_listening",
               {{"channel", "cloudmeta_instances"}});
      lost = false;
      backoff = kFirstBackoff;
      // Whatever was notified while we were away is lost: let the app compare revisions now.
      s->on_change();
      co_await s->receive();
      // Lost: let the app try the store now, so an outage is noticed (and the snapshot reported
      // stale) without waiting for the next poll.
      if (!s->stopped) s->on_change();
    }
    if (s->stopped) break;
    if (!lost) {
      log_warn("change_feed_lost", {{"error", s->error()}, {"retry", "with backoff"}});
      lost = true;
    } else {
      log_debug("change_feed_retry_failed", {{"error", s->error()}});
    }
    s->close();
    s->timer.expires_after(backoff);
    beast::error_code ec;
    co_await s->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
  s->close();
}

}  // namespace

PgListener::PgListener(std::string url, std::chrono::milliseconds timeout,
                       net::any_io_executor executor, ChangeCallback on_change)
    : state_(std::make_shared<State>(std::move(url), timeout, std::move(executor),
                                     std::move(on_change))) {}

PgListener::~PgListener() { stop(); }

void PgListener::start() {
  net::co_spawn(state_->socket.get_executor(), run(state_), net::detached);
}

void PgListener::stop() {
  state_->stopped = true;
  beast::error_code ignored;
  state_->timer.cancel();
  state_->deadline.cancel();
  if (state_->socket.is_open()) state_->socket.cancel(ignored);
}

}  // namespace cloudmeta::store

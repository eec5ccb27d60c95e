#include "cloudmeta/app.hpp"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "cloudmeta/admin_api.hpp"
#include "cloudmeta/change_feed.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/caller_binding.hpp"
#include "cloudmeta/last_seen.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/metrics.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"
#include "cloudmeta/token_authority.hpp"
#include "http/listener.hpp"
#include "http/sessions.hpp"
#include "http/snapshot_cache.hpp"
#include "runtime/settings_reload.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "runtime/secret_key.hpp"
#include "runtime/systemd_integration.hpp"
#include "runtime/thread_heartbeat.hpp"
#include "runtime/thread_priority.hpp"

namespace cloudmeta {
namespace {

unsigned io_thread_count(const Config& config) {
  if (config.threads > 0) return config.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Brings the snapshot up to date with the store, on the sync thread. An outage is logged when it
// starts and when it ends, not once per attempt; meanwhile the metadata surface keeps serving the
// last snapshot. After a start from the snapshot cache (the database did not answer) the store's
// first answer is followed by the migrations `serve` skipped and a full reload, whatever the
// revision says (the file may come from another database).
class Refresher {
 public:
  Refresher(Fleet& fleet, bool started_from_cache)
      : fleet_(fleet), catch_up_(started_from_cache) {}

  void run(bool full) {
    const bool was_stale = fleet_.stale();
    const auto stale_for = fleet_.stale_for();
    const auto attempt = [this, full] {
      if (catch_up_) {
        fleet_.store().migrate();
        fleet_.resync();
        catch_up_ = false;
      } else if (full) {
        fleet_.resync();
      } else {
        fleet_.refresh_if_changed();
      }
    };
    try {
      try {
        attempt();
      } catch (const StoreError& e) {
        // A connection the server closed while it sat idle (Postgres restarted) fails its next
        // statement once and reopens on the one after: one retry tells "back" from "still down".
        if (e.kind() != StoreError::Kind::kUnavailable) throw;
        attempt();
      }
    } catch (const std::exception& e) {
      metrics::registry().count_refresh_failure();
      if (!was_stale) {
        log_error("snapshot_stale", {{"error", e.what()}, {"serving", "last snapshot"}});
      }
      return;
    }
    metrics::registry().note_snapshot_current();
    if (was_stale) {
      log_info("snapshot_fresh", {{"stale_s", static_cast<std::int64_t>(stale_for.count())}});
    }
  }

 private:
  Fleet& fleet_;
  bool catch_up_;
};

// Polls the store for writes made by another process (the CLI, another host) and republishes.
// With a ChangeFeed (Postgres) this is only the safety net: notifications arrive at once.
// Every FULL_RESYNC_INTERVAL_S (0: never) it reloads everything even when the revision says
// nothing changed: the safety net for a database restored, or failed over to a replica, that
// reached the same revision with other rows. A full reload also follows this host's own writes
// (which patch the snapshot without one) when a snapshot cache file is kept, to rewrite it, but
// at most once per `cache_interval`: under a steady stream of admin writes a fleet-sized reload
// per refresh would keep the sync thread busy and two snapshots in memory all the time.
// It also prunes the change log past CHANGE_LOG_RETENTION_S, at most once a minute (every host
// does; a second host's prune finds little left): a bounded delete of the oldest rows.
net::awaitable<void> refresh_loop(Fleet& fleet, Refresher& refresher,
                                  std::chrono::milliseconds interval,
                                  std::chrono::seconds full_interval,
                                  std::chrono::seconds cache_interval,
                                  std::chrono::seconds retention) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto last_full = std::chrono::steady_clock::now();
  const auto prune_interval = std::min<std::chrono::seconds>(retention, std::chrono::seconds(60));
  auto last_prune = last_full - prune_interval;  // a first prune at the first refresh
  bool prune_failing = false;
  for (;;) {
    timer.expires_after(interval);
    beast::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    const auto now = std::chrono::steady_clock::now();
    const bool full = (full_interval.count() > 0 && now - last_full >= full_interval) ||
                      (!fleet.stale() && fleet.cache_behind() && now - last_full >= cache_interval);
    if (full) last_full = now;
    refresher.run(full);
    if (now - last_prune >= prune_interval && !fleet.stale()) {
      last_prune = now;
      try {
        fleet.prune_change_log(retention);
        prune_failing = false;
      } catch (const std::exception& e) {
        // A read-only database (a standby) serves reads, and the log is pruned by its writer's
        // hosts; logged once, not every minute.
        if (!prune_failing) log_warn("change_log_prune_failed", {{"error", e.what()}});
        prune_failing = true;
      }
    }
  }
}

// The start-up's store work: schema, SECRET_KEY, the first full load (which writes the cache).
std::string start_from_store(const Config& config, Store& store, Fleet& fleet) {
  const int version = store.migrate();
  log_info("schema_ready", {{"version", version}});
  std::string secret = resolve_secret_key(config, store);
  if (!config.snapshot_cache.empty()) {
    // A configured SECRET_KEY stays out of the file; a generated one is needed to serve tokens.
    fleet.keep_cache(config.snapshot_cache, config.secret_key.empty() ? secret : "");
  }
  fleet.load_all();
  metrics::registry().note_snapshot_current();
  return secret;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  // Appended piecewise: g++ 12 warns falsely (-Wrestrict) on `"[" + std::string + "]"`.
  const auto address = endpoint.address();
  std::string text;
  if (address.is_v6()) text += '[';
  text += address.to_string();
  if (address.is_v6()) text += ']';
  text += ':';
  text += std::to_string(endpoint.port());
  return text;
}

}  // namespace

int serve(const Config& config) {
  log_configure(config.log_level, config.log_format);
  log_info("starting", {{"version", CLOUDMETA_VERSION}, {"config", config.describe()}});

  std::unique_ptr<Store> store;
  try {
    // Not connecting yet: the database not answering must not stop `serve` (below).
    store = open_store(config.database_url,
                       StoreOptions{config.database_pool_size, config.database_pool_timeout,
                                    config.database_timeout, /*connect_at_open=*/false});
  } catch (const std::exception& e) {
    log_error("store_unavailable", {{"error", e.what()}});
    return 1;
  }
  SnapshotHolder snapshots;
  Fleet fleet(*store, snapshots);
  std::string secret;
  bool from_cache = false;
  try {
    secret = start_from_store(config, *store, fleet);
  } catch (const StoreError& e) {
    // Only a database across the network can be away while this host is fine; a SQLite file
    // that cannot be opened is a configuration error, reported by exiting.
    if (e.kind() != StoreError::Kind::kUnavailable || !is_network_database(config.database_url)) {
      log_error("store_unavailable", {{"error", e.what()}});
      return 1;
    }
    log_error("store_unavailable", {{"error", e.what()}, {"next", "snapshot cache"}});
    // Serve what the cache file holds (flagged stale) and keep trying the store in the
    // background, rather than exit and be restarted into the same outage by systemd.
    std::optional<std::string> cached_secret;
    if (!config.snapshot_cache.empty()) cached_secret = fleet.load_cache(config.snapshot_cache);
    if (cached_secret && !config.secret_key.empty()) cached_secret = config.secret_key;
    if (cached_secret && !cached_secret->empty()) {
      secret = std::move(*cached_secret);
      fleet.keep_cache(config.snapshot_cache, config.secret_key.empty() ? secret : "");
      from_cache = true;
    } else {
      // Nothing to serve (no usable cache file) or no key to serve tokens with: wait for the
      // database, with backoff, telling systemd so it does not time the start out.
      log_error("waiting_for_database", {{"reason", cached_secret ? "no SECRET_KEY to serve with"
                                                                  : "no snapshot cache to serve"}});
      auto backoff = std::chrono::milliseconds(100);
      for (;;) {
        systemd::notify_waiting("waiting for the database: " + std::string(e.what()),
                                std::chrono::seconds(30));
        std::this_thread::sleep_for(backoff);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
        try {
          secret = start_from_store(config, *store, fleet);
          break;
        } catch (const StoreError& again) {
          if (again.kind() != StoreError::Kind::kUnavailable) {
            log_error("store_unavailable", {{"error", again.what()}});
            return 1;
          }
          log_debug("waiting_for_database", {{"error", again.what()}});
        }
      }
    }
  } catch (const std::exception& e) {
    log_error("store_unavailable", {{"error", e.what()}});
    return 1;
  }

  const TokenAuthority tokens(secret);
  LastSeen last_seen;  // metadata threads note callers; the admin page lists them
  admin::AdminApi api(fleet, config, secret, &last_seen);
  // Identity documents are signed on their first request (cloudmeta/identity_signing.hpp); the
  // stored keys are read (or made, once per fleet) then. An operator's key files are read now:
  // a mistake in them stops the start rather than every guest's signature.
  std::shared_ptr<const SigningKeys> identity_keys;
  if (!config.identity_key_file.empty()) {
    try {
      identity_keys = resolve_signing_keys(config, *store);
    } catch (const std::exception& e) {
      log_error("identity_keys_unusable", {{"error", e.what()}});
      return 1;
    }
  }
  IdentitySigner identity_signer(config, *store, identity_keys);
  api.set_identity_signer(&identity_signer);
  http_server::RateLimiter rate_limiter(config.imds_limits.rate_per_source,
                                        config.imds_limits.burst_per_source);
  // CALLER_BINDING=mac|port: the kernel's tables, followed from here on. A server that cannot
  // read them would serve callers unchecked, so it does not start.
  std::unique_ptr<NeighbourTable> neighbours;
  if (config.caller_binding != CallerBinding::kAddress) {
    try {
      neighbours = std::make_unique<NeighbourTable>();
    } catch (const std::exception& e) {
      log_error("caller_binding_unavailable", {{"error", e.what()}});
      return 1;
    }
  }
  // DHCP guests' addresses are learned only where the kernel vouches for the caller's MAC: under
  // CALLER_BINDING=address any guest could claim any MAC-only record (docs/hypervisor.md).
  std::unique_ptr<http_server::AddressLearner> learner;
  if (neighbours) {
    learner = std::make_unique<http_server::AddressLearner>(fleet, config.caller_binding);
  }
  const http_server::ImdsContext imds_context{config,     snapshots,        tokens,       rate_limiter,
                                              &last_seen, neighbours.get(), learner.get(),
                                              &identity_signer};

  const unsigned threads = io_thread_count(config);
  // Declared before the io_contexts, so destroyed after them: a connection still open at exit is
  // a coroutine frame that the io_context's destructor destroys, and its Slot then gives its
  // place back to the limiter, which must still be alive.
  http_server::ConnectionLimiter imds_limiter(config.imds_limits.max_connections,
                                              config.imds_limits.max_connections_per_source);
  http_server::ConnectionLimiter admin_limiter(config.admin_limits.max_connections,
                                               config.admin_limits.max_connections_per_source);
  const auto imds_watch = http_server::watch_connections(imds_limiter, "metadata");
  const auto admin_watch = http_server::watch_connections(admin_limiter, "admin");
  net::io_context admin_io(1);
  std::vector<std::unique_ptr<net::io_context>> imds_io;
  std::vector<tcp::acceptor> imds_acceptors;
  std::optional<tcp::acceptor> admin_acceptor;
  try {
    // One io_context and one SO_REUSEPORT acceptor per metadata thread: no lock is shared
    // between requests on different threads.
    // A socket passed by systemd is shared by every metadata thread through dup()ed fds: each
    // thread's acceptor waits on the same kernel queue (the winner of a wake-up accepts, the
    // others see EAGAIN and wait again), so no connection is handed between threads.
    const systemd::ActivatedSockets activated = systemd::take_activated_sockets();
    std::uint16_t port = config.port;
    for (unsigned i = 0; i < threads; ++i) {
      // One thread runs each, and every socket and timer of it is used on that thread only
      // (other threads only post() to it): the reactor's per-socket locks can go, a lock/unlock
      // pair per read, write and accept (the scheduler keeps its lock for those posts).
      imds_io.push_back(std::make_unique<net::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
      if (!activated.metadata.empty()) {
        // Several metadata sockets, e.g. 169.254.169.254:80 and [fd00:ec2::254]:80.
        for (const int passed : activated.metadata) {
          const int fd = i == 0 ? passed : ::dup(passed);
          if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup");
          imds_acceptors.push_back(systemd::adopt_acceptor(*imds_io.back(), fd));
        }
        continue;
      }
      // BIND may list several addresses (169.254.169.254,fd00:ec2::254): each thread accepts on
      // every one of them, so either family is served by all the threads.
      for (const std::string& address : config.bind) {
        imds_acceptors.push_back(
            http_server::bind_acceptor(*imds_io.back(), address, port, true));
        port = imds_acceptors.back().local_endpoint().port();  // PORT=0: all share the first's
      }
    }
    admin_acceptor.emplace(
        activated.admin
            ? systemd::adopt_acceptor(admin_io, *activated.admin)
            : http_server::bind_acceptor(admin_io, config.admin_bind, config.admin_port, false));
  } catch (const std::exception& e) {
    log_error("bind_failed", {{"error", e.what()}});
    return 1;
  }
  std::vector<net::any_io_executor> imds_executors;
  for (auto& io : imds_io) imds_executors.push_back(io->get_executor());
  http_server::refresh_caches_on_publish(snapshots, std::move(imds_executors));
  // Every thread has the same acceptors, in the same order: the first thread's name them all.
  const std::size_t acceptors_per_thread = imds_acceptors.size() / threads;
  std::string imds_listening;
  for (std::size_t i = 0; i < acceptors_per_thread; ++i) {
    const tcp::endpoint endpoint = imds_acceptors[i].local_endpoint();
    log_info("listening", {{"surface", "metadata"}, {"address", endpoint.address().to_string()},
                           {"port", endpoint.port()}, {"threads", threads}});
    imds_listening += (i == 0 ? "" : " ") + endpoint_text(endpoint);
  }
  const tcp::endpoint admin_endpoint = admin_acceptor->local_endpoint();
  log_info("listening", {{"surface", "admin"}, {"address", admin_endpoint.address().to_string()},
                         {"port", admin_endpoint.port()}});

  // One deadline sweeper per metadata thread, shared by that thread's acceptors.
  std::vector<std::shared_ptr<http_server::DeadlineSweeper>> sweepers;
  for (auto& io : imds_io) {
    sweepers.push_back(std::make_shared<http_server::DeadlineSweeper>(io->get_executor()));
  }
  for (auto& acceptor : imds_acceptors) {
    http_server::DeadlineSweeper* sweeper = nullptr;
    for (std::size_t i = 0; i < imds_io.size(); ++i) {
      if (&acceptor.get_executor().context() == imds_io[i].get()) sweeper = sweepers[i].get();
    }
    net::co_spawn(acceptor.get_executor(),
                  http_server::accept_loop(
                      acceptor, imds_limiter, "metadata",
                      [&, sweeper](tcp::socket s, http_server::ConnectionLimiter::Slot slot) {
                        return http_server::serve_imds_connection(std::move(s), imds_context,
                                                                  std::move(slot), *sweeper);
                      }),
                  net::detached);
  }
  net::co_spawn(admin_io,
                http_server::accept_loop(
                    *admin_acceptor, admin_limiter, "admin",
                    [&](tcp::socket s, http_server::ConnectionLimiter::Slot slot) {
                      return http_server::serve_admin_connection(std::move(s), config, api,
                                                                 std::move(slot));
                    }),
                net::detached);
  // Snapshot rebuilds run on a thread of their own, so a fleet-sized reload never stalls the
  // admin API; Fleet lets them run beside admin writes, each on its own pooled connection.
  net::io_context sync_io(1);
  Refresher refresher(fleet, from_cache);
  net::co_spawn(
      sync_io,
      refresh_loop(fleet, refresher, config.refresh_interval, config.full_resync_interval,
                   config.snapshot_cache_interval, config.change_log_retention),
      net::detached);
  // Postgres: another host's write reaches this snapshot as soon as its NOTIFY arrives.
  const auto feed =
      open_change_feed(config.database_url, config.database_timeout, sync_io.get_executor(),
                       [&refresher] { refresher.run(false); });
  if (feed) feed->start();
  std::thread sync_thread([&sync_io, &config] {
    if (config.admin_sched_idle) yield_to_metadata_threads();
    sync_io.run();
  });

  // Both surfaces listen and the snapshot is loaded: ready (systemd, /readyz).
  api.set_ready(true);
  const auto status = [&, listening = "metadata " + imds_listening + ", admin " +
                                      endpoint_text(admin_endpoint)] {
    std::string text = "serving " + std::to_string(snapshots.load()->size()) + " instances";
    if (fleet.stale()) {
      text += " (stale for " + std::to_string(fleet.stale_for().count()) +
              " s: the database does not answer)";
    }
    return text + "; " + listening;
  };
  // The watchdog's keep-alive comes from a thread that never waits on the store, and vouches
  // for the metadata threads (they answer a probe each period), not for the database.
  std::vector<net::any_io_executor> metadata_executors;
  for (auto& io : imds_io) metadata_executors.push_back(io->get_executor());
  ThreadHeartbeat heartbeat(std::move(metadata_executors));
  net::io_context watchdog_io(1);
  if (std::string ready = status(); systemd::notify_ready(ready)) {
    net::co_spawn(watchdog_io,
                  systemd::keep_informed(status, [&heartbeat] { return heartbeat.beat(); },
                                         std::move(ready)),
                  net::detached);
  }
  std::thread watchdog_thread([&watchdog_io] { watchdog_io.run(); });

  // API tokens' last use: written once a minute (coalesced), never per request.
  net::steady_timer token_use_timer(admin_io);
  auto flush_token_use = [&]() -> net::awaitable<void> {
    for (;;) {
      token_use_timer.expires_after(admin::TokenUseFlushInterval);
      beast::error_code ec;
      co_await token_use_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      api.flush_token_use();
    }
  };
  net::co_spawn(admin_io, flush_token_use(), net::detached);

  // SIGHUP: re-read what can change while serving (log level and format).
  net::signal_set reload_signals(admin_io, SIGHUP);
  auto reload = [&]() -> net::awaitable<void> {
    Config running = config;
    for (;;) {
      beast::error_code ec;
      co_await reload_signals.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      running = reload_settings(running);
    }
  };
  net::co_spawn(admin_io, reload(), net::detached);

  // Shutdown: stop accepting at once, give open connections the grace period, then stop.
  net::signal_set signals(admin_io, SIGINT, SIGTERM);
  auto shutdown = [&]() -> net::awaitable<void> {
    beast::error_code ec;
    const int signal = co_await signals.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    log_info("stopping", {{"signal", signal},
                          {"grace_s", static_cast<std::int64_t>(config.shutdown_grace.count())}});
    api.set_ready(false);
    systemd::notify_stopping("stopping: finishing open requests");
    reload_signals.cancel();
    token_use_timer.cancel();
    for (auto& acceptor_on_its_thread : imds_acceptors) {
      net::post(acceptor_on_its_thread.get_executor(), [&acceptor = acceptor_on_its_thread] {
        beast::error_code ignored;
        acceptor.close(ignored);
      });
    }
    // Idle keep-alive connections have nothing in flight: close them now, so that the grace
    // period waits only for requests being answered.
    for (std::size_t i = 0; i < imds_io.size(); ++i) {
      net::post(*imds_io[i], [sweeper = sweepers[i]] { sweeper->drain(); });
    }
    admin_acceptor->close(ec);
    const auto deadline = std::chrono::steady_clock::now() + config.shutdown_grace;
    net::steady_timer poll(admin_io);
    while (imds_limiter.open_connections() + admin_limiter.open_connections() > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      poll.expires_after(std::chrono::milliseconds(20));
      co_await poll.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    for (auto& io : imds_io) io->stop();
    admin_io.stop();
  };
  net::co_spawn(admin_io, shutdown(), net::detached);

  std::vector<std::thread> workers;
  for (auto& io : imds_io) workers.emplace_back([&io] { io->run(); });
  // Only now: threads inherit their creator's policy, and the metadata threads must not.
  if (config.admin_sched_idle) yield_to_metadata_threads();
  admin_io.run();
  watchdog_io.stop();
  watchdog_thread.join();
  api.flush_token_use();  // the last minute's token use
  sync_io.stop();  // a rebuild in progress finishes first
  sync_thread.join();
  for (auto& io : imds_io) io->stop();
  for (auto& w : workers) w.join();
  if (learner) learner->stop();  // it posts to the io_contexts, which go before it
  identity_signer.stop();        // likewise
  snapshots.on_publish(nullptr);  // it posts to the io_contexts, which go before the holder
  store.reset();  // nothing uses it any more: close the database cleanly before exiting
  log_info("stopped");
  return 0;
}

}  // namespace cloudmeta

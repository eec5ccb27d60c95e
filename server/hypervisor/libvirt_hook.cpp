#include "cloudmeta/libvirt_hook.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "cloudmeta/admin_client.hpp"
#include "cloudmeta/record_json.hpp"
#include "hypervisor/bounded_input.hpp"
#include "hypervisor/domain_registration.hpp"

namespace cloudmeta {
namespace {

using hypervisor::DomainRegistration;
using nlohmann::json;

constexpr int kExitRefused = 1;
constexpr int kExitSettings = 2;

// The server answered and refused (4xx): the request was wrong, and sending it again will not
// help. Always a failure, whatever LIBVIRT_HOOK_ON_ERROR says.
class Refused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The server failed (5xx): as if it were down.
class ServerFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string reply_error(const std::string& what, const AdminReply& reply) {
  const json body = json::parse(reply.body, nullptr, false);
  std::string reason;
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    reason = body["error"].get<std::string>();
  }
  return what + ": " + std::to_string(reply.status) + (reason.empty() ? "" : " " + reason);
}

// 2xx passes; `tolerated` (404 where there is nothing to do) too.
AdminReply expect(AdminReply reply, const std::string& what, unsigned tolerated = 0) {
  if ((reply.status >= 200 && reply.status < 300) || reply.status == tolerated) return reply;
  if (reply.status >= 500) throw ServerFailed(reply_error(what, reply));
  throw Refused(reply_error(what, reply));
}

class Hook {
 public:
  Hook(const LibvirtHookCall& call, const Config& config, const LibvirtHookConfig& settings,
       std::ostream& err)
      : call_(call), config_(config), settings_(settings), err_(err) {}

  int run(std::istream& in) {
    const bool registers = call_.operation == "prepare" || call_.operation == "start";
    // libvirt writes the XML for every operation; for one not handled here the pipe is simply
    // not read (libvirt ignores the EPIPE), so such calls cost nothing.
    if (!registers && call_.operation != "release") return 0;
    DomainRegistration domain;
    std::optional<std::string> user_data;
    try {
      domain = hypervisor::read_domain_xml(
          hypervisor::read_bounded(in, settings_.xml_limit, "the domain XML on standard input"),
          settings_.bridge);
      if (!domain.opted_in) return 0;  // not a cloudmeta guest: none of our business
      if (registers && !domain.user_data_file.empty()) {
        user_data = hypervisor::read_file_bounded(
            settings_.user_data_dir + "/" + domain.user_data_file, kMaxUserDataBytes);
      }
    } catch (const hypervisor::DomainXmlError& e) {
      return say(kExitRefused, e.what());
    } catch (const hypervisor::InputError& e) {
      return say(kExitRefused, e.what());
    }
    id_ = domain.instance_id;
    std::string token;
    try {
      token = hypervisor::read_token_file(settings_.token_file);
    } catch (const hypervisor::InputError& e) {
      return say(kExitSettings, std::string(e.what()) + " (LIBVIRT_HOOK_TOKEN_FILE)");
    }
    AdminClient client(config_, std::chrono::steady_clock::now() + settings_.timeout,
                       std::move(token));
    try {
      const std::string done = registers ? register_domain(client, domain, user_data)
                                         : release(client);
      return say(0, done);
    } catch (const Refused& e) {
      return say(kExitRefused, std::string("refused, nothing written: ") + e.what());
    } catch (const ServerFailed& e) {
      return server_down(client, e.what());
    } catch (const AdminUnreachable& e) {
      return server_down(client, e.what());
    }
  }

 private:
  std::string path() const { return "/api/v1/instances/" + id_; }

  std::string register_domain(AdminClient& client, const DomainRegistration& domain,
                              const std::optional<std::string>& user_data) {
    const std::string* file = user_data ? &*user_data : nullptr;
    json full = hypervisor::record_document(domain, file);
    full["state"] = "running";
    if (!domain.overwrite) {
      const AdminReply found = expect(client.send("GET", path()), "GET " + path(), 404);
      if (found.status != 404) {
        // An existing record keeps what the API or the page set: only the binding, the running
        // state and what the element declares change.
        json patch = hypervisor::update_document(domain, file);
        patch["state"] = "running";
        const std::string body = patch.dump();
        expect(client.send("PATCH", path(), &body), "PATCH " + path());
        return "updated";
      }
      // Without an address the record is a DHCP guest's: the server learns its address from
      // the MAC under CALLER_BINDING=mac|port (docs/hypervisor.md, "DHCP guests").
      if (!full.contains("ip") && !full.contains("mac")) {
        throw Refused("no address and no MAC for a new record: give <cloudmeta:ip> in the "
                      "domain's metadata element or an interface on the metadata bridge");
      }
    }
    const std::string body = full.dump();
    const AdminReply put = expect(client.send("PUT", path(), &body), "PUT " + path());
    return put.status == 201 ? "created" : "replaced (overwrite=\"true\")";
  }

  std::string release(AdminClient& client) {
    if (settings_.on_release == HookOnRelease::kDelete) {
      const AdminReply r = expect(client.send("DELETE", path()), "DELETE " + path(), 404);
      return r.status == 404 ? "no record to delete" : "deleted";
    }
    const std::string body = R"({"state":"stopped"})";
    const AdminReply r = expect(client.send("PATCH", path(), &body), "PATCH " + path(), 404);
    return r.status == 404 ? "no record to stop" : "stopped (kept, not served)";
  }

  int server_down(const AdminClient& client, const std::string& error) {
    const std::string message = "the cloudmeta server at " + client.address() +
                                " did not do it: " + error;
    if (settings_.on_error == HookOnError::kIgnore) {
      return say(0, message + "; LIBVIRT_HOOK_ON_ERROR=ignore: the guest goes on without");
    }
    return say(kExitRefused, message + " (LIBVIRT_HOOK_ON_ERROR=fail)");
  }

  // One line for libvirt's log (it shows a failing hook's output in its error message).
  int say(int status, const std::string& what) {
    err_ << "cloudmeta libvirt-hook: " << call_.guest << " " << call_.operation;
    if (!id_.empty()) err_ << " (" << id_ << ")";
    err_ << ": " << (status == 0 ? "" : "error: ");
    for (const char c : what) err_ << (c == '\n' || c == '\r' ? ' ' : c);
    err_ << "\n";
    return status;
  }

  const LibvirtHookCall& call_;
  const Config& config_;
  const LibvirtHookConfig& settings_;
  std::ostream& err_;
  std::string id_;
};

}  // namespace

int run_libvirt_hook(const LibvirtHookCall& call, const Config& config,
                     const LibvirtHookConfig& hook, std::istream& in, std::ostream& err) {
  return Hook(call, config, hook, err).run(in);
}

}  // namespace cloudmeta

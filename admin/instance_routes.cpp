#include "instance_routes.hpp"

#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "audit.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/json_depth.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/record_json.hpp"
#include "instance_query.hpp"
#include "json_body.hpp"
#include "json_response.hpp"
#include "record_patch.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::string_view kCollectionPath = "/api/v1/instances/";

// Answers a taken id or address with a precise message before the Store is asked; the Store's
// own kConflict still guards against a writer racing in between.
void refuse_conflicts(Store& store, const InstanceRecord& record, bool is_new) {
  if (is_new && store.find_instance(record.instance_id)) {
    throw ApiError(http::status::conflict, "instance_id " + record.instance_id + " already exists",
                   "instance_id");
  }
  const auto holder = store.find_instance_by_ip(record.ip);
  if (holder && holder->instance_id != record.instance_id) {
    throw ApiError(http::status::conflict,
                   "ip " + record.ip + " is already used by " + holder->instance_id, "ip");
  }
}

void log_write(const RouteContext& ctx, std::string_view event, const std::string& id) {
  log_info(event, {{"instance", id},
                   {"peer", ctx.peer.to_string()},
                   {"principal", ctx.principal.name},
                   {"request_id", ctx.request_id}});
}

Response created(const RouteContext& ctx, const InstanceRecord& stored) {
  Response response = json_response(ctx.request, http::status::created, record_to_json(stored));
  response.set(http::field::location, std::string(kCollectionPath) + stored.instance_id);
  return response;
}

// The audit entry of a write, committed with it (Fleet::AlongWith).
Fleet::AlongWith audited(const RouteContext& ctx, std::string_view action, const std::string& id,
                         const InstanceRecord* before) {
  return [&ctx, action, &id, before](const InstanceRecord* stored) {
    audit_instance_change(ctx, action, id, before, stored);
  };
}

// The document of a row that did not decode, for the operator who repairs it: as JSON when it
// parses, so that it can be corrected and PUT back, else as text (bytes that are not UTF-8
// become U+FFFD; as text too when it nests too deep to print as JSON). Secrets included, as in
// the GET of any record; the audit log and the logs never get it.
nlohmann::json stored_document(const std::string& text) {
  if (find_excess_nesting(text, kMaxJsonDepth) == std::string_view::npos) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_discarded()) return doc;
  }
  return nlohmann::json::parse(
      nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

nlohmann::json with_last_seen(const RouteContext& ctx, const InstanceRecord& record) {
  nlohmann::json out = record_to_json(record);
  const auto key = IpKey::parse(record.ip);
  if (!ctx.web.last_seen || !key) return out;
  if (const auto sighting = ctx.web.last_seen->find(*key)) {
    char at[32];
    const std::time_t t = static_cast<std::time_t>(sighting->at);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out["last_seen"] = {{"at", at}, {"address", sighting->peer.to_string()}};
  }
  return out;
}

}  // namespace

Response list_instances(const RouteContext& ctx, const RequestTarget& target) {
  const InstanceQuery query = parse_instance_query(target);
  ListingPage page = run_instance_query(query, ctx.fleet.store(), ctx.web.last_seen);
  nlohmann::json instances = nlohmann::json::array();
  for (const InstanceRecord& record : page.records) {
    instances.push_back(with_last_seen(ctx, record));
  }
  const auto count = instances.size();
  nlohmann::json body = {{"instances", std::move(instances)},
                         {"count", count},
                         {"total", nullptr},
                         {"total_estimated", page.total_estimated},
                         {"next_cursor", nullptr},
                         {"offset", query.offset}};
  if (page.total) body["total"] = *page.total;
  if (page.next_cursor) body["next_cursor"] = *page.next_cursor;
  return json_response(ctx.request, http::status::ok, body);
}

Response create_instance(const RouteContext& ctx) {
  const InstanceRecord record = parse_record(parse_json_object(ctx.request));
  refuse_conflicts(ctx.fleet.store(), record, true);
  const InstanceRecord stored =
      ctx.fleet.create(record, audited(ctx, "instance.create", record.instance_id, nullptr));
  log_write(ctx, "instance_created", stored.instance_id);
  return created(ctx, stored);
}

Response get_instance(const RouteContext& ctx, const std::string& id) {
  const auto record = ctx.fleet.store().find_instance(id);
  if (!record) throw ApiError(http::status::not_found, "instance " + id + " not found");
  nlohmann::json body = with_last_seen(ctx, *record);
  if (record->invalid) body["stored_document"] = stored_document(record->invalid->document);
  return json_response(ctx.request, http::status::ok, body);
}

Response put_instance(const RouteContext& ctx, const std::string& id) {
  nlohmann::json body = parse_json_object(ctx.request);
  require_path_id(body, id);
  body["instance_id"] = id;
  const InstanceRecord record = parse_record(body);
  const auto before = ctx.fleet.store().find_instance(id);
  refuse_conflicts(ctx.fleet.store(), record, !before);
  if (!before) {
    const InstanceRecord stored =
        ctx.fleet.create(record, audited(ctx, "instance.create", id, nullptr));
    log_write(ctx, "instance_created", id);
    return created(ctx, stored);
  }
  const InstanceRecord stored =
      ctx.fleet.replace(record, audited(ctx, "instance.update", id, &*before));
  log_write(ctx, "instance_replaced", id);
  return json_response(ctx.request, http::status::ok, record_to_json(stored));
}

Response patch_instance(const RouteContext& ctx, const std::string& id) {
  const nlohmann::json patch = parse_json_object(ctx.request);
  const auto existing = ctx.fleet.store().find_instance(id);
  if (!existing) throw ApiError(http::status::not_found, "instance " + id + " not found");
  if (existing->invalid) {
    throw ApiError(http::status::conflict,
                   "instance " + id + " is stored in a form this version cannot decode (" +
                       existing->invalid->reason +
                       "): there is no record to patch; PUT a whole record to replace it, or "
                       "DELETE it");
  }
  const InstanceRecord record = merge_patched(*existing, patch);
  refuse_conflicts(ctx.fleet.store(), record, false);
  const InstanceRecord stored =
      ctx.fleet.replace(record, audited(ctx, "instance.update", id, &*existing));
  log_write(ctx, "instance_patched", id);
  return json_response(ctx.request, http::status::ok, record_to_json(stored));
}

Response delete_instance(const RouteContext& ctx, const std::string& id) {
  const auto before = ctx.fleet.store().find_instance(id);
  if (!before || !ctx.fleet.remove(id, audited(ctx, "instance.delete", id, &*before))) {
    throw ApiError(http::status::not_found, "instance " + id + " not found");
  }
  log_write(ctx, "instance_deleted", id);
  return empty_response(ctx.request, http::status::no_content);
}

}  // namespace cloudmeta::admin

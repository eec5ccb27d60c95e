// GET /api/v1/instances/{id}/rendered: "what this instance sees". Read from the RenderedInstance
// in the snapshot the metadata surface serves, not rendered again here, so the page shows exactly
// the bytes a VM gets (and shows nothing different if the snapshot is stale).
#include <map>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "api_error.hpp"
#include "cloudmeta/ip_key.hpp"
#include "instance_routes.hpp"
#include "json_response.hpp"

namespace cloudmeta::admin {

namespace {

constexpr std::string_view kIdentityDocument = "dynamic/instance-identity/document";

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.find('\0'));
  return out;
}

bool is_utf8(const std::string& bytes) {
  try {
    (void)nlohmann::json(bytes).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

Response rendered_instance(const RouteContext& ctx, const std::string& id) {
  if (ctx.request.method() != http::verb::get) {
    throw ApiError(http::status::method_not_allowed, "method not allowed", {}, "GET");
  }
  const auto record = ctx.fleet.store().find_instance(id);
  if (!record) throw ApiError(http::status::not_found, "instance " + id + " not found");
  if (record->invalid) {
    throw ApiError(http::status::not_found,
                   "instance " + id + " is stored in a form this version cannot decode (" +
                       record->invalid->reason + "): its VM is answered as an unknown caller");
  }
  const auto key = IpKey::parse(record->ip);
  const auto snapshot = ctx.fleet.snapshots().load();
  const RenderedInstance* rendered = key ? snapshot->find(*key) : nullptr;
  if (!rendered || rendered->instance_id() != id) {
    throw ApiError(http::status::not_found,
                   "instance " + id + " is not in the served snapshot yet; reload in a moment");
  }
  // Sorted by path, as a person reads a tree. Leaves that are not UTF-8 text (binary user-data)
  // travel as {"base64": ...} so the JSON stays valid.
  std::map<std::string, nlohmann::json> leaves;
  const IdentitySignatures* signatures = rendered->signatures();
  for (const auto& [path, node] : rendered->nodes()) {
    if (node.is_dir) continue;
    if (node.signed_leaf != SignedLeaf::kNone) {
      // Signed on the guest's first request for it (docs/metadata.md, "Signed identity"); the
      // admin side never signs, so null until then.
      leaves[path] = signatures ? nlohmann::json(signatures->of(node.signed_leaf)) : nullptr;
      continue;
    }
    leaves[path] = is_utf8(node.body) ? nlohmann::json(node.body)
                                      : nlohmann::json{{"base64", base64(node.body)}};
  }
  nlohmann::json body = {{"instance_id", id}, {"ip", record->ip}, {"paths", leaves}};
  if (const Node* doc = rendered->find(kIdentityDocument)) body["identity_document"] = doc->body;
  return json_response(ctx.request, http::status::ok, body);
}

}  // namespace cloudmeta::admin

// The /api/v1/instances handlers: list (filters, search, sort, paging: instance_query.hpp),
// create, read, replace (PUT), merge-patch (PATCH, RFC 7386) and delete. Each writes through
// Fleet, so the metadata surface sees a change as soon as the response is sent, and logs and
// audits the write (the log never holds the record; the audit log holds it, secrets redacted).
// Runs on the admin thread. Throws ApiError, ValidationError or StoreError; AdminApi maps them.
#pragma once

#include <string>

#include "cloudmeta/admin_http.hpp"
#include "request_target.hpp"
#include "route_context.hpp"

namespace cloudmeta::admin {

Response list_instances(const RouteContext& ctx, const RequestTarget& target);
Response create_instance(const RouteContext& ctx);
Response get_instance(const RouteContext& ctx, const std::string& id);
Response put_instance(const RouteContext& ctx, const std::string& id);
Response patch_instance(const RouteContext& ctx, const std::string& id);
Response delete_instance(const RouteContext& ctx, const std::string& id);
// GET .../{id}/rendered: what the instance sees (admin/rendered_view.cpp).
Response rendered_instance(const RouteContext& ctx, const std::string& id);

}  // namespace cloudmeta::admin

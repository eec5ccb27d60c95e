// GET /api/v1/identity/certificates: the certificates that verify the identity documents'
// signatures (docs/metadata.md, "Signed identity"), PEM, without credentials: they are public
// by design, as AWS publishes its own, and whoever configures a verifier (Vault's AWS auth
// method, SPIRE's aws_iid attestor) needs them before holding an admin token.
#pragma once

#include "cloudmeta/admin_http.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "request_target.hpp"

namespace cloudmeta::admin {

inline constexpr std::string_view kIdentityCertificatesPath = "/api/v1/identity/certificates";

// ?name=dsa|rsa|rsa2048 (AWS's names: pkcs7, signature, rsa2048) answers that one certificate
// (and a rotated-out one while it is still published); without it, all of them. Each follows a
// line naming it. Makes the keys on first use (about a
// second, once per fleet). Throws ApiError (400, 405) or StoreError (503).
Response identity_certificates(const Request& request, const RequestTarget& target,
                               IdentitySigner& signer);

}  // namespace cloudmeta::admin

#pragma once
// What of a store URL may be shown. A postgresql:// URL may carry secrets (the password in
// user:PASSWORD@, password= and sslpassword= parameters); error messages and logs name the
// store by RedactedStoreUrl() and pass what libpq said through WithoutSecrets(), because libpq
// quotes the pieces of a URL it cannot parse. OpenStore (store.h) does both for every error it
// returns, so nothing above store/ needs to. Pure functions; thread-safe.
//
// The URL is read the way libpq reads it (fe-connect.c, conninfo_uri_parse_options): the
// user information ends at the first '@' before any '/', the password after its first ':';
// query parameters are split at '&' and '='. A URL that is not a URI (no "://") has no
// secrets found in it.

#include <string>
#include <string_view>

namespace metastack::store {

// `url` with each secret, as written, replaced by "***"; everything else as it was.
std::string RedactedStoreUrl(std::string_view url);

// `message` with every occurrence of each of `url`'s secrets, as written in the URL and
// percent-decoded, replaced by "***".
std::string WithoutSecrets(std::string message, std::string_view url);

}  // namespace metastack::store

// store_url.h: which parts of a store URL are secrets, and that OpenStore's errors carry none.
#include "store/store_url.h"

#include <gtest/gtest.h>

#include "store/store.h"

namespace metastack::store {
namespace {

struct UrlCase {
  std::string url, redacted;
};

TEST(StoreUrlTest, RedactedStoreUrlHidesEverySecretAndNothingElse) {
  const UrlCase cases[] = {
      {"postgresql://metastack:DB_PASSWORD@db:5432/metastack",
       "postgresql://metastack:***@db:5432/metastack"},
      {"postgres://u:p%40ss@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem",
       "postgres://u:***@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem"},
      // Without a password, or without user information at all.
      {"postgresql://metastack@db/x?sslmode=require",
       "postgresql://metastack@db/x?sslmode=require"},
      {"postgresql:///x?host=/run/postgresql", "postgresql:///x?host=/run/postgresql"},
      {"postgresql://db:5432/x", "postgresql://db:5432/x"},
      // Passwords as parameters: the connection's and the client key's.
      {"postgresql://db/x?user=u&password=pw&sslkey=/k&sslpassword=kp",
       "postgresql://db/x?user=u&password=***&sslkey=/k&sslpassword=***"},
      {"postgresql://u:a@db/x?password=b", "postgresql://u:***@db/x?password=***"},
      // An '@' after the first '/' is not user information (libpq reads it so too).
      {"postgresql://db/x?application_name=a:b@c", "postgresql://db/x?application_name=a:b@c"},
      // The password ends at the first '@': libpq takes the rest for the host.
      {"postgresql://u:sec@ret@db/x", "postgresql://u:***@ret@db/x"},
      {"sqlite:/var/lib/metastack/metastack.db", "sqlite:/var/lib/metastack/metastack.db"},
      {"", ""},
  };
  for (const UrlCase& c : cases) EXPECT_EQ(RedactedStoreUrl(c.url), c.redacted) << c.url;
}

TEST(StoreUrlTest, WithoutSecretsRemovesThemAsWrittenAndDecoded) {
  const std::string url = "postgresql://u:p%40ss%zz@db/x?sslpassword=key%20pass";
  EXPECT_EQ(WithoutSecrets("token \"p%40ss%zz\", decoded p@ss%zz; key pass; key%20pass", url),
            "token \"***\", decoded ***; ***; ***");
  EXPECT_EQ(WithoutSecrets("nothing secret here", url), "nothing secret here");
  EXPECT_EQ(WithoutSecrets("pw pw", "postgresql://u:pw@db/x"), "*** ***");
  EXPECT_EQ(WithoutSecrets("u@db", "postgresql://u@db/x"), "u@db");
}

// libpq quotes the token it cannot decode: here the password itself.
TEST(StoreUrlTest, OpenStoreErrorsNameTheStoreWithoutItsPassword) {
  auto store = OpenStore("postgresql://metastack:s3cret%zz@127.0.0.1:1/metastack?sslmode=require");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.error().message,
            "postgresql://metastack:***@127.0.0.1:1/metastack?sslmode=require: postgresql: bad "
            "connection string: invalid percent-encoded token: \"***\"");

  auto typo = OpenStore("postgresq://metastack:s3cret@db/metastack");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message,
            "unsupported store URL (expected memory:, sqlite:PATH or postgresql://...): "
            "postgresq://metastack:***@db/metastack");
}

TEST(StoreUrlTest, OpenStoreConnectErrorsNameTheStore) {
  auto store = OpenStore("postgresql://u:pw@/x?host=/nonexistent-metastack&port=1&sslmode=disable");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store.error().message,
            "postgresql://u:***@/x?host=/nonexistent-metastack&port=1&sslmode=disable: "
            "postgresql: cannot connect: connection to server on socket "
            "\"/nonexistent-metastack/.s.PGSQL.1\" failed: No such file or directory Is the "
            "server running locally and accepting connections on that socket?");
}

}  // namespace
}  // namespace metastack::store

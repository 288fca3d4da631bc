#include "core/py_json.h"

#include <gtest/gtest.h>

namespace metastack::core {
namespace {

TEST(PyJsonTest, SeparatorsAndInsertionOrder) {
  Json j;
  j["z"] = 1;
  j["a"] = Json::array({1, "x", nullptr, true, false});
  j["m"] = Json::object();
  j["e"] = Json::array();
  EXPECT_EQ(DumpPython(j), R"({"z": 1, "a": [1, "x", null, true, false], "m": {}, "e": []})");
}

TEST(PyJsonTest, EnsureAsciiLikePython) {
  // é, a CJK ideograph, an emoji (astral: surrogate pair), DEL and control characters.
  Json j = "caf\u00e9 \u6f22 \U0001F680 \x7f \x01\t\n\r\b\f \"q\" \\ / <>&";
  EXPECT_EQ(DumpPython(j),
            R"("caf\u00e9 \u6f22 \ud83d\ude80 \u007f \u0001\t\n\r\b\f \"q\" \\ / <>&")");
}

TEST(PyJsonTest, FloatsAsPythonRepr) {
  EXPECT_EQ(DumpPython(Json(1.0)), "1.0");
  EXPECT_EQ(DumpPython(Json(0.1)), "0.1");
  EXPECT_EQ(DumpPython(Json(-2.5)), "-2.5");
  EXPECT_EQ(DumpPython(Json(1e16)), "1e+16");
  EXPECT_EQ(DumpPython(Json(123456789012345.0)), "123456789012345.0");
  EXPECT_EQ(DumpPython(Json(0.0001)), "0.0001");
  EXPECT_EQ(DumpPython(Json(0.00001)), "1e-05");
  EXPECT_EQ(DumpPython(Json(1.5e300)), "1.5e+300");
}

TEST(PyJsonTest, Integers) {
  EXPECT_EQ(DumpPython(Json(-7)), "-7");
  EXPECT_EQ(DumpPython(Json(18446744073709551615ull)), "18446744073709551615");
}

}  // namespace
}  // namespace metastack::core

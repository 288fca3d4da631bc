#include <gtest/gtest.h>
TEST(DiskImage, Placeholder) {}

#include "guest/network_config.h"

#include <gtest/gtest.h>

// Metrics::Render's exact text: what a Prometheus scraper parses.
#include "http/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace metastack::http {
namespace {

TEST(MetricsTest, CountersAndGaugesWithAndWithoutLabels) {
  Metrics m;
  m.Describe("requests_total", "counter", "Requests answered");
  m.Describe("open_connections", "gauge", "Connections open now");
  m.Add("requests_total", R"(path="openstack",status="200")", 3);
  m.Add("requests_total", R"(path="ec2",status="404")");
  m.Set("open_connections", "", 7);
  m.Set("open_connections", "", 5);
  m.Add("undescribed_total", "", 0.5);
  EXPECT_EQ(m.Render(),
            "# HELP open_connections Connections open now\n"
            "# TYPE open_connections gauge\n"
            "open_connections 5\n"
            "# HELP requests_total Requests answered\n"
            "# TYPE requests_total counter\n"
            "requests_total{path=\"ec2\",status=\"404\"} 1\n"
            "requests_total{path=\"openstack\",status=\"200\"} 3\n"
            "# TYPE undescribed_total counter\n"
            "undescribed_total 0.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndInInf) {
  Metrics m;
  m.Describe("request_seconds", "histogram", "Time to answer");
  auto& h = m.Histogram("request_seconds", R"(path="ec2")");
  h.Observe(0.0002);                         // in every bucket from le="0.00025" up
  h.Observe(0.03);                           // from le="0.05"
  h.Observe(7);                              // above every bound: only +Inf
  m.Observe("request_seconds", "", 0.0001);  // on a bound: counted in it
  EXPECT_EQ(m.Render(),
            "# HELP request_seconds Time to answer\n"
            "# TYPE request_seconds histogram\n"
            "request_seconds_bucket{le=\"0.0001\"} 1\n"
            "request_seconds_bucket{le=\"0.00025\"} 1\n"
            "request_seconds_bucket{le=\"0.0005\"} 1\n"
            "request_seconds_bucket{le=\"0.001\"} 1\n"
            "request_seconds_bucket{le=\"0.0025\"} 1\n"
            "request_seconds_bucket{le=\"0.005\"} 1\n"
            "request_seconds_bucket{le=\"0.01\"} 1\n"
            "request_seconds_bucket{le=\"0.025\"} 1\n"
            "request_seconds_bucket{le=\"0.05\"} 1\n"
            "request_seconds_bucket{le=\"0.1\"} 1\n"
            "request_seconds_bucket{le=\"0.5\"} 1\n"
            "request_seconds_bucket{le=\"2.5\"} 1\n"
            "request_seconds_bucket{le=\"+Inf\"} 1\n"
            "request_seconds_sum 0.0001\n"
            "request_seconds_count 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.0001\"} 0\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.00025\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.0005\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.001\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.0025\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.005\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.01\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.025\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.05\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.1\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.5\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"2.5\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"+Inf\"} 3\n"
            "request_seconds_sum{path=\"ec2\"} 7.0302\n"
            "request_seconds_count{path=\"ec2\"} 3\n");
}

TEST(MetricsTest, HelpEscapesBackslashAndLineFeed) {
  Metrics m;
  m.Describe("x_total", "counter", "C:\\dir\nsecond line");
  m.Add("x_total", "");
  EXPECT_EQ(m.Render(),
            "# HELP x_total C:\\\\dir\\nsecond line\n"
            "# TYPE x_total counter\n"
            "x_total 1\n");
}

TEST(MetricsTest, AnEmptyRegistryRendersNothing) { EXPECT_EQ(Metrics().Render(), ""); }

// Series looked up once and updated from many threads lose no update.
TEST(MetricsTest, ConcurrentUpdatesAllCount) {
  Metrics m;
  auto& counter = m.Counter("c_total", "");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        counter.Add(1);
        m.Observe("h_seconds", "", 0.001);
      }
    });
  for (auto& t : threads) t.join();
  std::string text = m.Render();
  EXPECT_NE(text.find("\nc_total 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nh_seconds_bucket{le=\"0.001\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nh_seconds_count 40000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace metastack::http

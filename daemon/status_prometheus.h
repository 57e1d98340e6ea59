// status_prometheus.h: aoe-stat --prometheus, the status documents of
// status_schema.h in the Prometheus text exposition format (version
// 0.0.4), for node_exporter's textfile collector.  Names follow the
// Prometheus conventions: an aoe_ prefix, base units (seconds, bytes),
// counters end in _total; a target's state is one series per state, 1 for
// the current one.  Pure: documents in, text out (aoe-stat(8) lists the
// metrics).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aoe::daemon {

std::string prometheus_text(const std::vector<nlohmann::json>& documents);

}  // namespace aoe::daemon

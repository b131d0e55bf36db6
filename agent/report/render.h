// A finished run's report (the JSON Run::build_report() makes, stored as STATE/runs/ID/run.json)
// rendered for people and for CI: one self-contained HTML page (inline CSS and SVG, no script, no
// external asset) to attach to a game-day postmortem, and JUnit XML that Jenkins and GitLab read.
// Both take the JSON as it is, so they render reports of older agents and of runs that aborted
// half-way; every field is optional to them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

enum class ReportFormat { json, html, junit };

// "json", "html", "junit" (also "xml"); nullopt for anything else.
std::optional<ReportFormat> parse_report_format(std::string_view name);
// By the file's extension: .json, .html/.htm, .xml; nullopt for anything else.
std::optional<ReportFormat> report_format_for_path(std::string_view path);

// The page: outcome and reason, the fault timeline (requested vs applied/reverted), per probe a
// latency-over-time plot with the phases shaded and failed samples marked, the phase statistics
// and hypothesis verdicts, the faults' numeric telemetry as small charts, the plan.
std::string render_html(const nlohmann::json& report);

// <testsuites><testsuite name=EXPERIMENT>: one testcase per hypothesis verdict (probe x phase and
// each probe's verify check), one per fault (apply/revert errors, verify violations) and one for
// the run itself (an <error> when it aborted or failed).
std::string render_junit(const nlohmann::json& report);

// The report in `format` (json: indented, as run.json).
std::string render_report(const nlohmann::json& report, ReportFormat format);

// Writes `content` to `path` through a temporary file in the same directory and a rename, so a
// reader (a CI step collecting artifacts) never sees half a file.
Result<void> write_report_file(const std::string& path, std::string_view content);

// & < > " ' as entities; characters XML 1.0 forbids (C0 controls other than tab, LF, CR) as
// U+FFFD. Safe in element text and in attribute values of both HTML and XML.
std::string xml_escape(std::string_view s);

}  // namespace chaos

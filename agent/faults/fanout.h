// One fault entry acting on several targets: a family whose target matched several cgroups or
// namespaces (core/target.h modes) makes one fault per chosen target and hands them here. To the
// runner it is one fault: apply in order, revert newest first, renew each. The choice (matches,
// chosen, seed) is in its plan lines and in the report under "selection".
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "faults/fault.h"

namespace chaos {

class FanOutFault : public Fault {
 public:
  struct Part {
    std::string label;  // the target this part acts on: "cgroup /a", "pid 12 (python3)"
    std::unique_ptr<Fault> fault;
  };

  FanOutFault(std::vector<Part> parts, std::vector<std::string> choice_lines, nlohmann::json selection)
      : parts_(std::move(parts)), choice_lines_(std::move(choice_lines)), selection_(std::move(selection)) {}

  Result<std::vector<std::string>> plan() override {
    std::vector<std::string> out = choice_lines_;
    if (parts_.empty()) out.push_back("nothing chosen: the fault changes nothing");
    for (auto& p : parts_) {
      auto lines = p.fault->plan();
      if (!lines) return wrap(lines.error(), p.label);
      for (auto& l : *lines) out.push_back(parts_.size() > 1 ? p.label + ": " + l : l);
    }
    return out;
  }

  Result<void> apply() override {
    for (auto& p : parts_) {
      if (auto r = p.fault->apply(); !r) return wrap(r.error(), p.label);
      ++applied_;
    }
    return {};
  }

  Result<void> renew(std::uint64_t deadline_mono_ns) override {
    for (std::size_t i = 0; i < applied_ && i < parts_.size(); ++i)
      if (auto r = parts_[i].fault->renew(deadline_mono_ns); !r) return wrap(r.error(), parts_[i].label);
    return {};
  }

  // Every part is reverted, also the one whose apply failed part-way; the first error is returned.
  Result<void> revert() override {
    Result<void> first;
    std::size_t touched = std::min(parts_.size(), applied_ + 1);
    for (std::size_t i = touched; i-- > 0;) {
      auto r = parts_[i].fault->revert();
      if (!r && first) first = wrap(r.error(), parts_[i].label);
    }
    applied_ = 0;
    return first;
  }

  nlohmann::json sample() override {
    if (parts_.size() == 1) return parts_.front().fault->sample();
    nlohmann::json targets = nlohmann::json::array();
    bool any = false;
    for (auto& p : parts_) {
      auto s = p.fault->sample();
      any = any || !s.is_null();
      targets.push_back({{"target", p.label}, {"sample", std::move(s)}});
    }
    if (!any) return nullptr;
    return {{"targets", std::move(targets)}};
  }

  nlohmann::json observe() const override {
    nlohmann::json j;
    if (parts_.size() == 1) {
      j = parts_.front().fault->observe();
      if (!j.is_object()) j = nlohmann::json::object();
    } else {
      j = nlohmann::json::object();
      nlohmann::json targets = nlohmann::json::array();
      for (const auto& p : parts_) targets.push_back({{"target", p.label}, {"observed", p.fault->observe()}});
      j["targets"] = std::move(targets);
    }
    j["selection"] = selection_;
    return j;
  }

  std::vector<std::string> verify() override {
    std::vector<std::string> out;
    for (auto& p : parts_)
      for (auto& v : p.fault->verify()) out.push_back(parts_.size() > 1 ? p.label + ": " + v : v);
    return out;
  }

  std::size_t size() const { return parts_.size(); }

 private:
  std::vector<Part> parts_;
  std::vector<std::string> choice_lines_;
  nlohmann::json selection_;
  std::size_t applied_ = 0;  // parts whose apply() succeeded, in order
};

}  // namespace chaos

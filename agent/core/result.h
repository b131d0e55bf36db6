// Errors as values. Kernel, netlink, file and driver failures come back as chaos::Error,
// which keeps the errno and says what failed on which object. Exceptions are used only
// at parse boundaries and for fatal start-up errors (caught in main).
#pragma once

#include <cerrno>
#include <expected>
#include <string>

namespace chaos {

struct Error {
  int code = 0;         // errno value; 0 when the failure is not a system error
  std::string message;  // what failed, on which object: "attach tcx egress on eth0 (ifindex 3)"
  // A refusal by policy (a guardrail, a protected object), not a failed system call: the code is
  // EPERM for callers that branch on it, but the text is the reason alone.
  bool refusal = false;

  // "message: strerror(code)" (or just message when code is 0 or this is a refusal).
  std::string text() const;
};

template <class T = void>
using Result = std::expected<T, Error>;

// fail("plan: interface eth9 not found") / fail(msg, ENOENT)
inline std::unexpected<Error> fail(std::string message, int code = 0) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}
// refuse("cgroup /x is protected by the agent's config (protectedCgroups)"): a guardrail said no.
inline std::unexpected<Error> refuse(std::string message) {
  return std::unexpected<Error>(Error{EPERM, std::move(message), true});
}
// The current errno, captured at the call.
inline std::unexpected<Error> fail_errno(std::string message) {
  int e = errno;
  return std::unexpected<Error>(Error{e, std::move(message)});
}
// libbpf and netlink return -errno (or -NLE_*): normalise into one place.
inline std::unexpected<Error> fail_rc(int rc, std::string message) {
  return std::unexpected<Error>(Error{rc < 0 ? -rc : rc, std::move(message)});
}
// Prefix context onto an error travelling upward.
inline std::unexpected<Error> wrap(const Error& e, const std::string& context) {
  return std::unexpected<Error>(Error{e.code, context + ": " + e.message, e.refusal});
}

}  // namespace chaos

#include "lab_cmd.h"

#include <iostream>

#include <boost/program_options.hpp>

#include "commands.h"
#include "lab/etcd_lab.h"
#include "lab/lab.h"

namespace po = boost::program_options;

namespace chaos::cli {

int cmd_lab(const std::vector<std::string>& args) {
  po::options_description desc(
      "chaosctl lab up|down|status [options]\n\n"
      "A sandbox to try experiments safely: namespaces NAME-client (198.18.0.10) and NAME-server\n"
      "(198.18.0.20, HTTP responder on :8080) on a bridge in NAME-switch; no default routes.\n"
      "Experiments name its hosts with `lab: client` (or `lab: NAME/client`).\n\nOptions");
  std::string name = kLabDefaultName;
  int etcd = 0;
  desc.add_options()("help,h", "this help")("name", po::value(&name)->default_value(kLabDefaultName),
                                            "the lab's name (namespaces are NAME-HOST)")(
      "etcd", po::value(&etcd)->default_value(0), "add K hosts etcd1..etcdK (198.18.0.31..) running a K-member etcd cluster");
  std::string action;
  po::variables_map vm;
  if (auto rc = parse_command("chaosctl lab", args, desc, {{"action", po::value(&action)}}, vm)) return *rc;
  if (action == "up") {
    LabOptions o;
    o.name = name;
    o.etcd_hosts = etcd;
    auto r = lab_up(o);
    if (!r) {
      std::cerr << "chaosctl lab up: " << r.error().text() << "\n";
      return 1;
    }
    if (etcd > 0) {
      auto c = lab_start_etcd(*r);
      if (!c) {
        std::cerr << "chaosctl lab up: " << c.error().text() << "\n";
        (void)lab_down(name);
        return 1;
      }
      if (auto st = lab_status(name)) r = st;
      print_lab_status(*r, std::cout);
      std::cout << describe_lab_etcd(*c);
      return 0;
    }
    print_lab_status(*r, std::cout);
    return 0;
  }
  if (action == "down") {
    if (auto r = lab_down(name); !r) {
      std::cerr << "chaosctl lab down: " << r.error().text() << "\n";
      return 1;
    }
    std::cout << "lab " << name << " is down\n";
    return 0;
  }
  if (action == "status") {
    auto r = lab_status(name);
    if (!r) {
      if (r.error().code == ENOENT) {
        std::cout << "lab " << name << ": not up\n";
        return 3;
      }
      std::cerr << "chaosctl lab status: " << r.error().text() << "\n";
      return 1;
    }
    print_lab_status(*r, std::cout);
    if (auto c = lab_etcd_cluster(name)) std::cout << describe_lab_etcd(*c);
    return r->healthy() ? 0 : 1;
  }
  std::cerr << "chaosctl lab: expected up, down or status\n" << desc;
  return 2;
}

}  // namespace chaos::cli

#include "faults/etcd/parsers.h"

#include "faults/etcd/spec.h"

namespace chaos::etcd {

FaultFamily parsers() {
  FaultFamily f;
  f.name = "etcd";
  f.parse = parse_etcd_spec;
  return f;
}

}  // namespace chaos::etcd

// The verbs' reads of a store, in metastack-server only (it links the database libraries).
#include "store/store.h"
#include "verbs.h"

namespace metastack::cli {

Result<core::Instance> LoadStoredInstance(const std::string& store_url,
                                          const std::string& instance_id) {
  METASTACK_ASSIGN_OR_RETURN(auto store, store::OpenStore(store_url));
  METASTACK_ASSIGN_OR_RETURN(store::InstanceRecord record, store->GetInstance(instance_id));
  return std::move(record.instance);
}

}  // namespace metastack::cli

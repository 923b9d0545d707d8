// c10d process groups (Gloo) for data-parallel training: the entry points native/distributed.cc adds to the addon.
#pragma once

#include <napi.h>

namespace ladet {

// Adds c10dAvailable, processGroupNew, pgAllReduce, pgBroadcast, pgBarrier, pgAllGather and pgDestroy to exports.
// Always present; without LADET_WITH_C10D every one but c10dAvailable throws a JS Error saying why.
void registerDistributed(Napi::Env env, Napi::Object exports);

}  // namespace ladet

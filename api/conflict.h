// The service's one failure that the engine has no class for: a name already taken.
// The Thrift layer maps it to the Conflict exception.
#pragma once

#include "quiver/error.h"

namespace quiver::api {

class Conflict : public Error {
 public:
  using Error::Error;
};

}  // namespace quiver::api

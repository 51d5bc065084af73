// quiver's exception hierarchy. Every failure a caller can act on is one of these,
// with a message naming the bad value and what was expected; the Thrift layer maps
// each class to a typed Thrift exception.
#pragma once

#include <stdexcept>
#include <string>

#include "quiver/export.h"

namespace quiver {

class QUIVER_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller-supplied value is out of range or inconsistent (dimension, k, ef, NaN, spec).
class QUIVER_API InvalidArgument : public Error {
 public:
  using Error::Error;
};

// An id, file or collection that does not exist.
class QUIVER_API NotFound : public Error {
 public:
  using Error::Error;
};

// A file whose contents are truncated, inconsistent or fail their checksum.
class QUIVER_API CorruptFile : public Error {
 public:
  using Error::Error;
};

// A file written by a newer quiver than this one, in a format this build cannot read.
class QUIVER_API IncompatibleVersion : public Error {
 public:
  using Error::Error;
};

// The operating system refused a read, write, fsync or rename.
class QUIVER_API IoError : public Error {
 public:
  using Error::Error;
};

// Work refused because it would exceed a configured ResourceLimits cap (vectors, batch
// rows, memory budget); the message gives the requested and allowed numbers.
class QUIVER_API ResourceExhausted : public Error {
 public:
  using Error::Error;
};

// A long operation stopped because its progress callback or cancel flag asked it to.
class QUIVER_API Cancelled : public Error {
 public:
  using Error::Error;
};

}  // namespace quiver

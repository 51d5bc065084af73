// The one way engine/ includes hnswlib. hnswlib picks its own SIMD at compile time
// and then defines non-inline CPU-detection functions in its header; quiver brings its
// own runtime-dispatched kernels, so hnswlib's are switched off, which also lets
// several translation units include it.
#pragma once

#ifndef NO_MANUAL_VECTORIZATION
#define NO_MANUAL_VECTORIZATION
#endif
#include <hnswlib/hnswlib.h>

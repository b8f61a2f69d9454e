# libtacrt's sources: one list for the library (runtime/CMakeLists.txt) and
# the fuzz targets' sanitized copy of it (test/Fuzz/CMakeLists.txt), so a
# new runtime file cannot reach one and miss the other. The .tacm reader
# (lib/TacmFormat.cpp) is its own library, shared with the compiler.
set(TACRT_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/../lib)
set(TACRT_SOURCES
  ${TACRT_SOURCE_DIR}/CApi.cpp
  ${TACRT_SOURCE_DIR}/CudaDriver.cpp
  ${TACRT_SOURCE_DIR}/CudaExecutor.cpp
  ${TACRT_SOURCE_DIR}/Model.cpp
  ${TACRT_SOURCE_DIR}/NativeCode.cpp
  ${TACRT_SOURCE_DIR}/PlanMemory.cpp
  ${TACRT_SOURCE_DIR}/Session.cpp
  ${TACRT_SOURCE_DIR}/Sha256.cpp
  ${TACRT_SOURCE_DIR}/ThreadPool.cpp)

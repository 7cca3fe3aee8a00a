# One line saying what this build contains (backends, archs, w8a8's kernel configurations), printed at configure
# time and compiled into the library for w8a8::build_info() / w8a8.build_info() / `w8a8 info`.
set(w8a8_backends "cpu")
set(w8a8_archs "")
set(w8a8_kernel_count 0)
set(w8a8_cutlass_version "")
if(W8A8_CUDA)
  string(APPEND w8a8_backends " cublaslt unfused")
  string(REGEX MATCHALL ",code=[a-z0-9_]+" codes "${W8A8_CUDA_GENCODE_GENERIC};${W8A8_CUDA_GENCODE_SM90A}")
  list(TRANSFORM codes REPLACE ",code=" "")
  list(REMOVE_DUPLICATES codes)
  list(JOIN codes " " w8a8_archs)
  if(W8A8_CUTLASS)
    string(APPEND w8a8_backends " cutlass_sm90")
    list(LENGTH config_names w8a8_kernel_count)
    set(fused_names ${config_names})
    list(FILTER fused_names INCLUDE REGEX "_quant_")  # the linear ops' fused path, not scaled_mm configurations
    list(LENGTH fused_names w8a8_fused_count)
    set(w8a8_cutlass_version "${W8A8_CUTLASS_FOUND_VERSION}")
  endif()
  if(W8A8_NCCL)
    string(APPEND w8a8_backends " nccl")
  endif()
endif()
set(w8a8_summary "w8a8 build: backends ${w8a8_backends}")
if(W8A8_CUDA)
  string(APPEND w8a8_summary "; CUDA ${CMAKE_CUDA_COMPILER_VERSION}, archs ${w8a8_archs}")
endif()
if(W8A8_CUTLASS)
  string(APPEND w8a8_summary "; ${w8a8_kernel_count} sm_90a kernel configurations (${w8a8_fused_count} of them the "
                             "fused-quantization path's) on CUTLASS ${w8a8_cutlass_version} (${W8A8_CUTLASS_SOURCE})")
endif()
message(STATUS "${w8a8_summary}")
# On the one file that reads them: a change here recompiles platform.cc, not the library.
set_property(SOURCE ${PROJECT_SOURCE_DIR}/src/platform/platform.cc APPEND PROPERTY COMPILE_DEFINITIONS
             W8A8_BUILD_BACKENDS="${w8a8_backends}" W8A8_BUILD_ARCHS="${w8a8_archs}"
             W8A8_BUILD_CUTLASS_VERSION="${w8a8_cutlass_version}")

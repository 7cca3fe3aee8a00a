# CUDA backends. Enabled only when asked for (-DW8A8_CUDA=ON) and nvcc is found.
#
# Architectures: the generic kernels (quantization, epilogues, cuBLASLt glue) build for sm_89 and
# sm_90a, with PTX for later chips; w8a8's Hopper GEMMs (wgmma, TMA) build for sm_90a only.
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "W8A8_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER or put nvcc on PATH)")
endif()
# Explicit -gencode flags below: CMake 3.25's CUDA_ARCHITECTURES cannot say "90a".
set(CMAKE_CUDA_ARCHITECTURES OFF)
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit REQUIRED)

set(W8A8_CUDA_GENCODE_GENERIC
  "-gencode=arch=compute_89,code=sm_89"
  "-gencode=arch=compute_90a,code=sm_90a"
  "-gencode=arch=compute_90,code=compute_90"
  CACHE STRING "nvcc -gencode flags for the architecture-generic kernels")
set(W8A8_CUDA_GENCODE_SM90A "-gencode=arch=compute_90a,code=sm_90a"
  CACHE STRING "nvcc -gencode flags for the Hopper-only kernels")

file(GLOB_RECURSE W8A8_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*.cu)

# w8a8's own Hopper GEMMs, on CUTLASS/CuTe headers from the pinned PyPI wheel nvidia-cutlass
# (cmake/cutlass-version.txt). Where they come from, first found wins: W8A8_CUTLASS_DIR; the wheel installed in
# the build environment's Python (pip install . asks for it as a build requirement where nvcc is found,
# python/build_backend); third_party/cutlass (scripts/fetch-cutlass.sh).
set(W8A8_CUTLASS OFF CACHE STRING "Build w8a8's Hopper kernels (src/scaled_mm/cutlass_sm90): ON, OFF or AUTO (on where CUTLASS headers are found)")
set_property(CACHE W8A8_CUTLASS PROPERTY STRINGS ON OFF AUTO)
option(W8A8_CUTLASS_EXPLORE "Also build the candidate configurations (for w8a8-bench --tune)" OFF)
set(W8A8_CUTLASS_EXPLORE_FILTER "" CACHE STRING "Build only the candidates whose name matches this regex (empty: all)")
set(W8A8_CUTLASS_DIR "" CACHE PATH "CUTLASS/CuTe include folder (empty: the build Python's nvidia-cutlass wheel, then third_party/cutlass/include)")
file(STRINGS ${PROJECT_SOURCE_DIR}/cmake/cutlass-version.txt W8A8_CUTLASS_PINNED LIMIT_COUNT 1)
string(TOUPPER "${W8A8_CUTLASS}" w8a8_cutlass_request)
set(W8A8_CUTLASS_INCLUDE "")
set(W8A8_CUTLASS_SOURCE "")
if(NOT w8a8_cutlass_request STREQUAL "OFF")
  if(W8A8_CUTLASS_DIR)
    set(W8A8_CUTLASS_INCLUDE "${W8A8_CUTLASS_DIR}")
    set(W8A8_CUTLASS_SOURCE "W8A8_CUTLASS_DIR")
  else()
    # The wheel's headers, located without importing it (cutlass_library imports scipy and cuda-python).
    find_package(Python COMPONENTS Interpreter QUIET)
    if(Python_EXECUTABLE)
      execute_process(
        COMMAND "${Python_EXECUTABLE}" -c
                "import importlib.util as u, os; s = u.find_spec('cutlass_library'); print(os.path.join(list(s.submodule_search_locations)[0], 'source', 'include') if s else '')"
        OUTPUT_VARIABLE wheel_include OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(wheel_include AND EXISTS "${wheel_include}/cutlass/cutlass.h")
        set(W8A8_CUTLASS_INCLUDE "${wheel_include}")
        set(W8A8_CUTLASS_SOURCE "the build Python's nvidia-cutlass wheel, ${wheel_include}")
      endif()
    endif()
    if(NOT W8A8_CUTLASS_INCLUDE AND EXISTS "${PROJECT_SOURCE_DIR}/third_party/cutlass/include/cutlass/cutlass.h")
      set(W8A8_CUTLASS_INCLUDE "${PROJECT_SOURCE_DIR}/third_party/cutlass/include")
      set(W8A8_CUTLASS_SOURCE "third_party/cutlass")
    endif()
  endif()
  if(W8A8_CUTLASS_INCLUDE AND NOT EXISTS "${W8A8_CUTLASS_INCLUDE}/cutlass/cutlass.h")
    message(FATAL_ERROR "W8A8_CUTLASS_DIR=${W8A8_CUTLASS_INCLUDE} holds no cutlass/cutlass.h")
  endif()
  if(W8A8_CUTLASS_INCLUDE)
    file(STRINGS "${W8A8_CUTLASS_INCLUDE}/cutlass/version.h" version_lines REGEX "#define CUTLASS_(MAJOR|MINOR|PATCH) ")
    string(REGEX REPLACE ".*CUTLASS_MAJOR ([0-9]+).*CUTLASS_MINOR ([0-9]+).*CUTLASS_PATCH ([0-9]+).*" "\\1.\\2.\\3"
           W8A8_CUTLASS_FOUND_VERSION "${version_lines}")
    if(NOT W8A8_CUTLASS_FOUND_VERSION STREQUAL W8A8_CUTLASS_PINNED)
      message(WARNING "w8a8: CUTLASS ${W8A8_CUTLASS_FOUND_VERSION} headers (${W8A8_CUTLASS_SOURCE}); the kernels are "
                      "measured and tested with the pinned ${W8A8_CUTLASS_PINNED}")
    endif()
  endif()
  if(w8a8_cutlass_request STREQUAL "AUTO")
    if(W8A8_CUTLASS_INCLUDE)
      set(W8A8_CUTLASS ON)
    else()
      set(W8A8_CUTLASS OFF)
      message(STATUS "w8a8: W8A8_CUTLASS=AUTO and no CUTLASS headers found (pip install nvidia-cutlass==${W8A8_CUTLASS_PINNED} "
                     "or scripts/fetch-cutlass.sh): cuBLASLt only")
    endif()
  elseif(NOT W8A8_CUTLASS_INCLUDE)
    message(FATAL_ERROR "W8A8_CUTLASS=ON but no CUTLASS headers found: pip install nvidia-cutlass==${W8A8_CUTLASS_PINNED} "
                        "into the build's Python, run scripts/fetch-cutlass.sh, or set W8A8_CUTLASS_DIR")
  endif()
endif()
if(W8A8_CUTLASS)
  target_include_directories(w8a8 SYSTEM PRIVATE ${W8A8_CUTLASS_INCLUDE})
  # CUTLASS_ENABLE_GDC_FOR_SM90: the kernels wait on / release dependent grids, so programmatic dependent
  # launch (Knobs::pdl) is correct.
  target_compile_definitions(w8a8 PRIVATE W8A8_WITH_CUTLASS_SM90=1 CUTLASS_ENABLE_GDC_FOR_SM90=1)
  # One translation unit per configuration line of configs.h, and the list the backend iterates.
  set(configs_h ${PROJECT_SOURCE_DIR}/src/scaled_mm/cutlass_sm90/configs.h)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${configs_h})
  set(kinds CFG)
  if(W8A8_CUTLASS_EXPLORE)
    list(APPEND kinds EXPLORE)
  endif()
  set(instance_dir ${PROJECT_BINARY_DIR}/cutlass_sm90)
  set(config_list "")
  set(config_names "")
  foreach(kind IN LISTS kinds)
    file(STRINGS ${configs_h} lines REGEX "^#define W8A8_SM90_${kind}_[A-Za-z0-9_]+ ")
    foreach(line IN LISTS lines)
      string(REGEX MATCH "W8A8_SM90_${kind}_([A-Za-z0-9_]+)" macro "${line}")
      set(name ${CMAKE_MATCH_1})
      if(name IN_LIST config_names)
        message(FATAL_ERROR "configs.h: configuration ${name} is listed twice (a promoted candidate keeps its EXPLORE line?)")
      endif()
      if(kind STREQUAL "EXPLORE" AND W8A8_CUTLASS_EXPLORE_FILTER AND NOT name MATCHES "${W8A8_CUTLASS_EXPLORE_FILTER}")
        continue()
      endif()
      list(APPEND config_names ${name})
      string(APPEND config_list "W8A8_SM90_CONFIG(${name}, ${macro})\n")
      # The weight-streaming (gemv) configurations need none of CUTLASS's GEMM headers.
      set(launcher launcher.cuh)
      if(line MATCHES ", gemv[a-z_]*, ")
        set(launcher gemv_kernel.cuh)
      endif()
      file(CONFIGURE OUTPUT ${instance_dir}/${name}.cu CONTENT
           "// Generated from configs.h: one configuration per translation unit.\n#include \"scaled_mm/cutlass_sm90/${launcher}\"\nW8A8_SM90_DEFINE(${name}, ${macro})\n")
      list(APPEND W8A8_CUDA_SOURCES ${instance_dir}/${name}.cu)
    endforeach()
  endforeach()
  file(CONFIGURE OUTPUT ${instance_dir}/cutlass_sm90_configs.inc CONTENT "${config_list}")
  target_include_directories(w8a8 PRIVATE ${instance_dir})
else()
  list(FILTER W8A8_CUDA_SOURCES EXCLUDE REGEX "/cutlass_sm90/")
endif()
file(GLOB_RECURSE W8A8_CUDA_HOST_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/cuda/*.cc)
target_sources(w8a8 PRIVATE ${W8A8_CUDA_SOURCES} ${W8A8_CUDA_HOST_SOURCES})
foreach(source IN LISTS W8A8_CUDA_SOURCES)
  # Hopper-only translation units live under a folder named *_sm90 (e.g. scaled_mm/cutlass_sm90).
  if(source MATCHES "_sm90/")
    set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${W8A8_CUDA_GENCODE_SM90A}")
  else()
    set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${W8A8_CUDA_GENCODE_GENERIC}")
  endif()
endforeach()
target_compile_definitions(w8a8 PUBLIC W8A8_WITH_CUDA=1)

# NCCL for tensor-parallel layers (src/parallel/nccl_communicator.cc): on where the toolkit ships it.
find_path(W8A8_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
find_library(W8A8_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
set(nccl_default OFF)
if(W8A8_NCCL_INCLUDE AND W8A8_NCCL_LIBRARY)
  set(nccl_default ON)
endif()
option(W8A8_NCCL "Build the NCCL communicator for tensor-parallel layers" ${nccl_default})
if(W8A8_NCCL)
  if(NOT (W8A8_NCCL_INCLUDE AND W8A8_NCCL_LIBRARY))
    message(FATAL_ERROR "W8A8_NCCL=ON but nccl.h / libnccl were not found")
  endif()
  target_include_directories(w8a8 SYSTEM PUBLIC ${W8A8_NCCL_INCLUDE})  # tests create communicators
  target_compile_definitions(w8a8 PRIVATE W8A8_WITH_NCCL=1)
  target_link_libraries(w8a8 PUBLIC ${W8A8_NCCL_LIBRARY})
endif()
target_compile_options(w8a8 PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-fPIC>)
target_link_libraries(w8a8 PUBLIC CUDA::cudart CUDA::cublasLt CUDA::cublas)
set_target_properties(w8a8 PROPERTIES CUDA_ARCHITECTURES OFF CUDA_SEPARABLE_COMPILATION OFF)

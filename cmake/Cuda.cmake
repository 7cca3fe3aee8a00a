# CUDA backends (issue 5 onwards). Enabled only when asked for and nvcc is found.
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "W8A8_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER or put nvcc on PATH)")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

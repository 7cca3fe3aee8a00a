# Third-party dependencies, all from Debian packages (see scripts/setup.sh).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)

# A real BLAS for the CPU backend: OpenBLAS through its CBLAS interface.
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(W8A8_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas-pthread openblas REQUIRED)
add_library(w8a8_cblas INTERFACE)
target_include_directories(w8a8_cblas INTERFACE ${W8A8_CBLAS_INCLUDE_DIR})
target_link_libraries(w8a8_cblas INTERFACE BLAS::BLAS)
install(TARGETS w8a8_cblas EXPORT w8a8Targets)

find_package(nlohmann_json 3.10 REQUIRED)
find_package(benchmark QUIET)

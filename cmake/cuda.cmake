# The CUDA backend's build: GPTOSS_CUDA adds the gptoss::cuda INTERFACE target (the .cuh headers of
# include/gptoss/cuda plus the CUDA runtime; installed as the package's `cuda` component), the
# device tests of tests/cuda, and `--device cuda` in the gptoss command. With it off, nothing CUDA
# is built.
#
# Default: on only in the main project, with nvcc found and a GPU present on the building machine
# (nvcc alone is no reason to spend minutes compiling device code that cannot run here). As a
# subproject, enabling CUDA is the parent project's choice. -DGPTOSS_CUDA=ON without nvcc fails.
set(_gptoss_cuda_default OFF)
if(GPTOSS_MAIN_PROJECT AND NOT DEFINED GPTOSS_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(_gptoss_gpu_present OFF)
    if(EXISTS /dev/nvidia0)
      set(_gptoss_gpu_present ON)
    else()
      find_program(_gptoss_nvidia_smi nvidia-smi)
      if(_gptoss_nvidia_smi)
        execute_process(COMMAND ${_gptoss_nvidia_smi} -L RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_QUIET)
        if(_rc EQUAL 0 AND _out MATCHES "GPU")
          set(_gptoss_gpu_present ON)
        endif()
      endif()
    endif()
    if(_gptoss_gpu_present)
      set(_gptoss_cuda_default ON)
    else()
      message(STATUS "gptoss: nvcc found but no GPU present: CUDA backend off (-DGPTOSS_CUDA=ON builds it anyway)")
    endif()
  endif()
endif()
option(GPTOSS_CUDA "Build the CUDA backend, its tests and gptoss --device cuda (needs nvcc)" ${_gptoss_cuda_default})
if(NOT GPTOSS_CUDA)
  return()
endif()
if(NOT DEFINED CMAKE_CUDA_COMPILER)
  include(CheckLanguage)
  check_language(CUDA)
endif()
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "GPTOSS_CUDA is ON but no CUDA compiler (nvcc) was found; set CMAKE_CUDA_COMPILER or -DGPTOSS_CUDA=OFF")
endif()

# Ampere and Hopper by default; the kernels use no Hopper-only instructions yet, so no sm_90a.
set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures to compile device code for")
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
# CMake releases older than the CUDA in use may not know nvcc's C++20 flag.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)
message(STATUS "gptoss: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

add_library(gptoss_cuda INTERFACE)
add_library(gptoss::cuda ALIAS gptoss_cuda)
set_target_properties(gptoss_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(gptoss_cuda INTERFACE gptoss CUDA::cudart)
# Defaulted __host__ __device__ members (20012) and GCC-only pragmas in host code (1675) are
# harmless under nvcc.
target_compile_options(gptoss_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-diag-suppress=20012,1675>)
# find_package(gptoss COMPONENTS cuda): gptoss::cuda, with CUDAToolkit found by the package.
install(TARGETS gptoss_cuda EXPORT gptossCudaTargets)
install(EXPORT gptossCudaTargets NAMESPACE gptoss:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gptoss)

# Options written for g++ (-march, sanitizers) reach nvcc only through -Xcompiler, warnings not at
# all; for C++ sources they stay exactly as they were.
function(_gptoss_split_options out)
  set(result "")
  foreach(o IN LISTS ARGN)
    if(o MATCHES "^-W")
      # g++ compiling nvcc's generated host code would warn inside system headers.
      list(APPEND result "$<$<NOT:$<COMPILE_LANGUAGE:CUDA>>:${o}>")
    else()
      list(APPEND result "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${o}>$<$<NOT:$<COMPILE_LANGUAGE:CUDA>>:${o}>")
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()
if(TARGET gptoss_program_flags)
  get_target_property(_opts gptoss_program_flags INTERFACE_COMPILE_OPTIONS)
  if(_opts)
    _gptoss_split_options(_opts ${_opts})
    set_target_properties(gptoss_program_flags PROPERTIES INTERFACE_COMPILE_OPTIONS "${_opts}")
  endif()
endif()
get_directory_property(_opts COMPILE_OPTIONS)
if(_opts)
  _gptoss_split_options(_opts ${_opts})
  set_directory_properties(PROPERTIES COMPILE_OPTIONS "${_opts}")
endif()

# The gptoss command gets the CUDA Transformer in one extra translation unit, added once the
# examples folder has defined the target.
function(_gptoss_cuda_cli)
  if(TARGET gptoss_cli)
    target_sources(gptoss_cli PRIVATE ${PROJECT_SOURCE_DIR}/examples/gptoss/model_loader_cuda.cu)
    target_link_libraries(gptoss_cli PRIVATE gptoss_cuda)
    target_compile_definitions(gptoss_cli PRIVATE GPTOSS_WITH_CUDA=1)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _gptoss_cuda_cli)

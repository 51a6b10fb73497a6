# Builds tests/install/consumer against gptoss (installed, or as a subdirectory) and runs it on the
# tiny checkpoint. Invoked by ctest with -DSOURCE_DIR, -DWORK_DIR, -DMODE and -DTEST_DATA.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer)
if(MODE STREQUAL "find_package")
  # Only the library is installed: no programs, tests or benchmarks.
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/gptoss -DGPTOSS_BUILD_EXAMPLES=OFF -DGPTOSS_BUILD_TESTS=OFF
      -DGPTOSS_BUILD_BENCH=OFF -DGPTOSS_CUDA=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/gptoss)
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK_DIR}/app -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
else()
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK_DIR}/app -DGPTOSS_SOURCE_DIR=${SOURCE_DIR} -DGPTOSS_CUDA=OFF -DCMAKE_BUILD_TYPE=Release)
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/app)
run(${WORK_DIR}/app/consumer ${TEST_DATA}/tiny/original)
# The official reference's greedy continuation of that prompt begins 485 788 274 643
# (tests/data/tiny/golden.safetensors, `greedy.tokens_fp32`), whoever builds the library.
if(NOT last_output STREQUAL "485 788 274 643 \n")
  message(FATAL_ERROR "the consumer printed '${last_output}', not the reference's greedy tokens '485 788 274 643 '")
endif()
message(STATUS "consumer printed: ${last_output}")

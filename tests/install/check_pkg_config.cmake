# Installs gptoss (the library alone) and builds tests/install/consumer/main.cpp with nothing but the
# compiler and `pkg-config --cflags --libs gptoss`, then runs it on the tiny checkpoint. Invoked by
# ctest with -DSOURCE_DIR, -DWORK_DIR, -DCXX, -DPKG_CONFIG and -DTEST_DATA.
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/gptoss -DGPTOSS_BUILD_EXAMPLES=OFF -DBUILD_TESTING=OFF
    -DGPTOSS_BUILD_BENCH=OFF -DGPTOSS_CUDA=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${WORK_DIR}/gptoss)
run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${WORK_DIR}/prefix/share/pkgconfig ${PKG_CONFIG} --cflags --libs gptoss)
separate_arguments(flags UNIX_COMMAND "${last_output}")
if(NOT "-I${WORK_DIR}/prefix/include" IN_LIST flags)
  message(FATAL_ERROR "pkg-config gave no -I for the installed headers: ${last_output}")
endif()
run(${CXX} -O2 ${SOURCE_DIR}/tests/install/consumer/main.cpp ${flags} -o ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer ${TEST_DATA}/tiny/original)
if(NOT last_output MATCHES "^[0-9]+ [0-9]+ [0-9]+ [0-9]+")
  message(FATAL_ERROR "unexpected output: ${last_output}")
endif()
message(STATUS "consumer printed: ${last_output}")

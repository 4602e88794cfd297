# Runs one example program on a model as a CTest test (examples/CMakeLists.txt):
#   cmake -DPROGRAM=path -DMODEL=path [-DWORKDIR=path] -P run-example.cmake
# Without the model the test is reported as skipped ("KAA_SKIP:"), as the other tests
# that need ../shared are. Otherwise the program's output is shown and the test fails
# when it exits non-zero (each example checks what it demonstrates).
if(NOT EXISTS "${MODEL}")
  message("KAA_SKIP: ${MODEL} not found (set KAA_SHARED_DIR)")
  return()
endif()
if(NOT WORKDIR)
  set(WORKDIR ".")
endif()
execute_process(COMMAND "${PROGRAM}" "${MODEL}" ${ARGS}
                WORKING_DIRECTORY "${WORKDIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${rc}")
endif()

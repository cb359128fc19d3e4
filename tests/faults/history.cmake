# SPDX-License-Identifier: MIT
# Histories of fault runs: the workload client, the injectors' marker, the
# checker, and the runs judged by it. Included by tests/faults/CMakeLists.txt.
add_library(sqllock_history STATIC ${CMAKE_CURRENT_SOURCE_DIR}/history.c)
# sqllock.h only, for hist_status_name's names: the checker links no library.
target_include_directories(sqllock_history
                           PRIVATE $<TARGET_PROPERTY:sqllock,INTERFACE_INCLUDE_DIRECTORIES>)

add_executable(workload ${CMAKE_CURRENT_SOURCE_DIR}/workload.c
                        ${CMAKE_CURRENT_SOURCE_DIR}/workload_pg.c)
target_link_libraries(workload PRIVATE sqllock_history sqllock PkgConfig::LIBPQ)

add_executable(workload_mark ${CMAKE_CURRENT_SOURCE_DIR}/workload_mark.c)
target_link_libraries(workload_mark PRIVATE sqllock_history)

add_executable(checker ${CMAKE_CURRENT_SOURCE_DIR}/checker.c)
target_link_libraries(checker PRIVATE sqllock_history)

# The checker on small synthetic histories; needs no server.
add_test(NAME faults::checker
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_checker.sh $<TARGET_FILE:checker>)
set_tests_properties(faults::checker PROPERTIES LABELS faults TIMEOUT 30)

sqllock_fault_script(broken TIMEOUT 60)
sqllock_fault_script(kill TIMEOUT 120)
sqllock_fault_script(lease_stop TIMEOUT 120)
sqllock_fault_script(chaos TIMEOUT 150)

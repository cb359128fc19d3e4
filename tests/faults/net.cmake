# SPDX-License-Identifier: MIT
# Network and session faults (included by CMakeLists.txt in this directory):
# a silent partition, the server's idle timeouts, the race between a
# release and the end of a wait, and a killed or paused holder.
add_executable(net_client net_client.c)
target_link_libraries(net_client PRIVATE sqllock_history sqllock Threads::Threads)
sqllock_fault_script(partition TIMEOUT 150)
if(SQLLOCK_WITH_ODBC) # an ODBC holder is cut off too
  set_tests_properties(faults::partition PROPERTIES ENVIRONMENT SQLLOCK_FAULT_ODBC=1)
endif()

add_executable(test_idle test_idle.c)
target_link_libraries(test_idle PRIVATE sqllock_testsupport)
sqllock_fault_script(idle TIMEOUT 60)

add_executable(test_race test_race.c)
target_link_libraries(test_race PRIVATE sqllock_testsupport)
sqllock_fault_script(race TIMEOUT 120)

# A killed or paused holder, for every backend: over ODBC too.
if(SQLLOCK_WITH_ODBC)
  sqllock_fault_script(holder_death TIMEOUT 120)
endif()
